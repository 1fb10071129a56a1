"""Loaded into a test worker (`celery worker --include tests.integration.worker_faults`): a
remote-control command that puts the worker in the state of the rare defect after a Redis outage
(docs/reliability.md), so that the consumer watchdog's recovery can be tested on demand."""

from __future__ import annotations

from typing import Any

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
