"""What webhooks does when imaging tells it something."""

from __future__ import annotations

from typing import Any

from imaging.models import Task
from webhooks.services import webhooks_task_finished


def on_task_finished(sender: Any, *, task_id: int, task: Task, **kwargs: Any) -> None:
    """A task completed or failed (sent once its finish is committed, with the row as it was
    read then): queue its deliveries."""
    webhooks_task_finished(task_id=task_id, task=task)
