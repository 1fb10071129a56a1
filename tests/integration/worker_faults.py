"""Loaded into a test worker (`celery worker --include tests.integration.worker_faults`): a
remote-control command that puts the worker's consumer in a wedged state, and a task that makes
the real wedge after a Redis outage happen (docs/reliability.md), so that the consumer watchdog's
recovery from both can be tested on demand."""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Any

from celery import shared_task
from celery.worker.control import control_command


@control_command()
def consumer_wedge(state: Any, **_: Any) -> dict[str, str]:
    """Cancel the task consumer's registrations on its channel and nothing else: the worker
    keeps running with its queues selected and its consumer believing it consumes, but no
    message reaches it any more (kombu: "Requeuing undeliverable message ... No consumers")."""
    consumer = state.consumer.task_consumer
    for tag in list(consumer._active_tags.values()):
        consumer.channel.basic_cancel(tag)
    return {"ok": "no message reaches this worker now"}


@shared_task(name="faults.ack_in_frozen_redis", acks_late=True, ignore_result=True)
def ack_in_frozen_redis(redis_pid: int, seconds: float) -> None:
    """The real wedge's cause, on demand (docs/reliability.md): freeze Redis (SIGSTOP) for
    `seconds` and return at once, so that this message's acknowledgement is sent to a frozen
    Redis and times out. kombu then counts the message as unacknowledged for ever and, with a
    prefetch of one, never asks Redis for another. A detached shell thaws Redis."""
    subprocess.Popen(
        ["/bin/sh", "-c", f"sleep {float(seconds)}; kill -CONT {int(redis_pid)}"],
        start_new_session=True,
    )
    os.kill(redis_pid, signal.SIGSTOP)
