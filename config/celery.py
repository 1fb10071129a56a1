"""The Celery application; its configuration is the CELERY_* part of Django's settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("nanobanana")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# A worker that stopped receiving messages reconnects (imaging/consumer_watchdog.py).
app.steps["consumer"].add("imaging.consumer_watchdog:ConsumerWatchdog")
# Its own metrics endpoint when METRICS_WORKER_PORT is set (core/metrics.py).
app.steps["worker"].add("core.metrics:WorkerMetricsServer")
