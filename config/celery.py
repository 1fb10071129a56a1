"""The Celery application; its configuration is the CELERY_* part of Django's settings."""

import contextlib
import os

from celery import Celery
from celery.backends.base import Backend, DisabledBackend
from celery.fixups.django import DjangoWorkerFixup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")


class NanoBananaCelery(Celery):
    """Celery, with one result backend for all threads when results are off (they are:
    CELERY_TASK_IGNORE_RESULT, no result backend). Celery keeps a backend per thread, as some
    backends are not thread-safe, and building one scans every installed package's entry
    points. Under ASGI every request runs on a thread of its own, so each submit built one:
    about 6 % of its server CPU (bench/api.py). The disabled backend holds no state."""

    @property
    def backend(self) -> Backend:
        shared = self.__dict__.get("_shared_backend")
        if shared is not None:
            return shared
        backend = super().backend
        if isinstance(backend, DisabledBackend):
            self.__dict__["_shared_backend"] = backend
        return backend


app = NanoBananaCelery("nanobanana")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# A worker that stopped receiving messages reconnects (imaging/consumer_watchdog.py).
app.steps["consumer"].add("imaging.consumer_watchdog:ConsumerWatchdog")
# Its own metrics endpoint when METRICS_WORKER_PORT is set (core/metrics.py).
app.steps["worker"].add("core.metrics:WorkerMetricsServer")


def _connections_return(self: DjangoWorkerFixup, **_kwargs: object) -> None:
    """Between two tasks, each database connection goes back to its pool (or is closed where
    there is none), as after a web request. Celery 5.7's Django fixup closes the whole pool
    before and after every task instead (celery/celery#10554, fix proposed in #10555): every task
    paid a new PostgreSQL connection, ~10 ms of a 30 ms task (bench/queueing.py). A pool process
    still closes the pools it inherited when it starts (`on_worker_process_init`, untouched). A
    connection that fails to go back is dropped, as the fixup drops it. Remove once Celery ships
    the fix."""
    for conn in self._db.connections.all(initialized_only=True):
        with contextlib.suppress(*self.interface_errors, self.DatabaseError):
            conn.close()


DjangoWorkerFixup.close_database = _connections_return
