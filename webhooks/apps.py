"""The webhooks app; delivers task events whenever imaging says a task finished."""

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from imaging.signals import task_finished
        from webhooks.receivers import on_task_finished

        task_finished.connect(on_task_finished, dispatch_uid="webhooks.task_finished")
