"""The /v1 API app; registers the OpenAPI extensions when Django is ready."""

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API"

    def ready(self) -> None:
        from api.schema import components  # noqa: F401 (registers the OpenAPI extensions)
