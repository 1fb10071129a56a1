"""A worker that has stopped receiving messages reconnects instead of idling for ever.

Rarely, after Redis went away and came back, a Celery worker keeps running but no longer gets
messages: its event loop is alive (timers fire), its queues are still selected, and kombu's last
word is "Requeuing undeliverable message ... No consumers" (docs/reliability.md). This consumer
bootstep looks every IMAGING_CONSUMER_WATCHDOG_SECONDS: when the worker has nothing to do (no
task running or reserved) and the same pending tasks of its queues were already waiting at the
previous look, a message should have reached it and did not. It then raises a broker connection
error inside the event loop, which Celery treats as a lost connection: the consumer closes its
connection and consumes again on a new one, as after any broker outage. Nothing is lost: the
messages are in Redis, and a task runs at most once whatever arrives twice (the claim).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import kombu.exceptions
from celery import bootsteps
from celery.worker import state as worker_state
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

logger = logging.getLogger(__name__)


class ConsumerStalled(kombu.exceptions.ConnectionError):
    """Raised in the event loop to make the consumer reconnect: every kombu transport counts
    this class among its connection errors, which Celery's event loop lets out of its timers to
    the consumer's restart."""


class ConsumerWatchdog(bootsteps.StartStopStep):
    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: object, **kwargs: object) -> None:
        super().__init__(parent, **kwargs)
        self.timer_entry: Any = None
        self.seen: set[int] = set()

    def start(self, c: Any) -> None:
        interval = settings.IMAGING_CONSUMER_WATCHDOG_SECONDS
        if not interval or c.timer is None:
            return
        self.seen = set()
        self.timer_entry = c.timer.call_repeatedly(interval, self.check, (c, interval))

    def stop(self, c: Any) -> None:
        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None

    shutdown = stop

    def check(self, c: Any, interval: float) -> None:
        from imaging.selectors import tasks_waiting  # Django is set up once the worker runs

        if worker_state.active_requests or worker_state.reserved_requests:
            self.seen = set()
            return
        queues = sorted(c.app.amqp.queues.consume_from)
        since = timezone.now() - timedelta(seconds=interval)
        try:
            waiting = tasks_waiting(queues=queues, since=since)
        except DatabaseError:
            return  # the database is away: nothing to judge by
        stalled, self.seen = waiting & self.seen, waiting
        if not stalled:
            return
        self.seen = set()
        logger.error(
            "consumer stalled: idle while %d task(s) of %s waited %.0f s or more; reconnecting",
            len(stalled),
            ", ".join(queues),
            interval,
        )
        raise ConsumerStalled("no message received while tasks waited")
