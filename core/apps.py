"""What every app uses: the application errors, request ids, system checks and outgoing HTTP."""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from core import checks  # noqa: F401 (registers the deploy checks)
        from core.request_ids import install_request_id_log_records

        install_request_id_log_records()
