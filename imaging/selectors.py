"""Reads of tasks and batches, always from the caller's account."""

from __future__ import annotations

from accounts.models import Account
from config.errors import NotFound
from imaging.models import Batch, Task
from imaging.storage import file_url


def task_get(*, account: Account, public_id: str) -> Task:
    task = Task.objects.for_account(account).filter(public_id=public_id).first()
    if task is None:  # another tenant's task is as absent as one that never existed
        raise NotFound(f"task {public_id!r} not found")
    return task


def batch_get(*, account: Account, public_id: str) -> Batch:
    batch = Batch.objects.for_account(account).filter(public_id=public_id).first()
    if batch is None:
        raise NotFound(f"batch {public_id!r} not found")
    return batch


def task_image_url(*, task: Task) -> str | None:
    return file_url(name=task.result_files[0]) if task.result_files else None


def task_mask_url(*, task: Task) -> str | None:
    return file_url(name=task.mask_file) if task.mask_file else None
