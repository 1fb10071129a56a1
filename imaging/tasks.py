"""Celery tasks of imaging: they take ids and call services (the worker side of a task)."""

from __future__ import annotations

import logging
import time

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError
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
    started = time.perf_counter()
    claim_id = self.request.id  # the message's id: a retry or redelivery keeps it
    try:
        claim = task_claim(task_id=task_id, claim_id=claim_id)
    except DatabaseError:
        # The database is away, or a pooled connection died with its server: nothing was
        # claimed, so keep the message rather than drop the task (the failed connection is
        # discarded when the task ends).
        logger.warning("could not claim task %s; trying again", task_id, exc_info=True)
        raise self.retry(countdown=1) from None
    claimed = time.perf_counter()
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
        phases = task_execute(task_id=task_id, claim_id=claim_id)
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
    else:
        worker_time_log(task_id=task_id, claim=claimed - started, phases=phases, started=started)
    return "done"


def worker_time_log(
    *, task_id: int, claim: float, phases: dict[str, float], started: float
) -> None:
    """One line per completed task: where its time on the worker went, the engine's apart from
    the worker's own (claim, inputs, cancel checks, storing, finishing; bench/queueing.py reads
    it)."""
    total = time.perf_counter() - started
    parts = {"claim": claim, **phases}
    parts["other"] = total - sum(parts.values())
    logger.info(
        "task %s worker time %.2f ms, engine %.2f ms, own %.2f ms (%s)",
        task_id,
        total * 1000,
        parts.get("engine", 0.0) * 1000,
        (total - parts.get("engine", 0.0)) * 1000,
        ", ".join(f"{name} {seconds * 1000:.2f}" for name, seconds in parts.items()),
    )


@shared_task(name="imaging.sweep", ignore_result=True)
def imaging_sweep() -> int:
    """Tasks whose worker died or whose message the broker lost are queued again."""
    return tasks_sweep()


@shared_task(name="imaging.purge", ignore_result=True)
def imaging_purge() -> int:
    """Retention: old tasks' images."""
    return task_files_purge()
