from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API"

    def ready(self) -> None:
        from api import schema  # noqa: F401 (registers the OpenAPI auth extension)
        from api.middleware import install_request_id_log_records
        from config import middleware  # noqa: F401 (registers its deploy checks)

        install_request_id_log_records()
