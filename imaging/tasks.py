"""Celery tasks of imaging: they take ids and call services (the worker side of a task)."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils.translation import gettext as _

from core.errors import ProcessingError
from imaging.engine.types import OperationCancelled, OperationFailed
from imaging.runner import task_execute
from imaging.services import ClaimResult, task_claim, task_fail, task_files_purge, tasks_sweep

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name="imaging.run",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.IMAGING_SOFT_TIME_LIMIT,
    time_limit=settings.IMAGING_HARD_TIME_LIMIT,
    max_retries=None,
)
def task_run(self, task_id: int) -> str:
    claim_id = self.request.id  # the message's id: a retry or redelivery keeps it
    claim = task_claim(task_id=task_id, claim_id=claim_id)
    if claim == ClaimResult.BUSY:
        # The account runs its plan's share of workers already: wait, without using an attempt.
        raise self.retry(countdown=2)
    if claim == ClaimResult.LEASED:
        # This message is back while its lease runs (its worker died, or it came twice): look
        # again when the lease may have lapsed instead of dropping the only message.
        raise self.retry(countdown=settings.IMAGING_TASK_LEASE_RENEW_SECONDS)
    if claim == ClaimResult.GONE:
        return claim
    try:
        task_execute(task_id=task_id, claim_id=claim_id)
    except OperationCancelled:
        return "cancelled"
    except SoftTimeLimitExceeded:
        error = ProcessingError(_("The operation took too long."))
        task_fail(task_id=task_id, error=error, claim_id=claim_id)
    except OperationFailed as failure:
        task_fail(task_id=task_id, error=ProcessingError(str(failure)), claim_id=claim_id)
    except Exception:
        # Anything else is our bug or a bad input the engine did not expect: log it, fail the
        # task with a refund, and keep the worker alive.
        logger.exception("task %s crashed", task_id)
        error = ProcessingError(_("Image processing failed."))
        task_fail(task_id=task_id, error=error, claim_id=claim_id)
    return "done"


@shared_task(name="imaging.sweep", ignore_result=True)
def imaging_sweep() -> int:
    """Tasks whose worker died or whose message the broker lost are queued again."""
    return tasks_sweep()


@shared_task(name="imaging.purge", ignore_result=True)
def imaging_purge() -> int:
    """Retention: old tasks' images."""
    return task_files_purge()
