"""The imaging app: image tasks and batches, their queues, storage and engine."""

from django.apps import AppConfig


class ImagingConfig(AppConfig):
    name = "imaging"
    verbose_name = "Imaging"
