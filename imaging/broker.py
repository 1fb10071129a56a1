"""What imaging knows of the broker: whether it still holds the messages it was given.

A Redis that keeps nothing on disk comes back from a restart empty: the queued messages are gone,
and so are kombu's queue bindings (a publish to an exchange without bindings is dropped). A
marker message sits on a queue nobody consumes; when it is missing, everything queued before is
missing too, and the sweep queues the pending tasks again.
"""

from __future__ import annotations

from amqp.exceptions import ChannelError
from django.conf import settings
from kombu import Exchange, Queue

from config.celery import app

MARKER_QUEUE = "nanobanana.broker-marker"
# Every queue a worker consumes (Makefile `--queues`): gpu and cpu for image work, celery for
# housekeeping.
TASK_QUEUES = ("cpu", "gpu", "celery")


def broker_lost_messages() -> bool:
    """Whether the broker lost what it held since the marker was left (or never had one)."""
    with app.connection_for_write() as connection:
        queue = connection.SimpleQueue(MARKER_QUEUE)
        try:
            return queue.qsize() == 0
        except ChannelError:  # Redis: the queue's key does not exist
            return True
        finally:
            queue.close()


def queue_depths() -> dict[str, int]:
    """Messages waiting in each task queue, as the broker counts them (Redis: the LLEN of each
    queue's lists; the filesystem broker: its message files). A queue never used counts 0."""
    depths = {}
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=settings.REDIS_SOCKET_TIMEOUT)
        channel = connection.default_channel
        for name in TASK_QUEUES:
            try:
                depths[name] = channel.queue_declare(queue=name, passive=True).message_count
            except ChannelError:  # Redis: an empty queue's lists do not exist
                depths[name] = 0
    return depths


def broker_marker_set() -> None:
    """Declare the task queues with their bindings again, then leave one marker message."""
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for name in TASK_QUEUES:
            Queue(name, Exchange(name), routing_key=name)(channel).declare()
        queue = connection.SimpleQueue(MARKER_QUEUE)
        try:
            queue.clear()
            queue.put({"marker": True})
        finally:
            queue.close()
