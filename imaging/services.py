"""Task lifecycle: submit (charge, store inputs, enqueue), claim, progress, finish, fail, cancel."""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from kombu.exceptions import OperationalError as BrokerError
from PIL import Image

from accounts.models import Account, ApiKey, User
from billing.costs import operation_cost
from billing.models import CreditLedgerEntry, StaffMoneyAction
from billing.selectors import (
    FREE_PLAN_CODE,
    account_pixel_limit,
    account_plan,
    account_upload_limit_bytes,
)
from billing.services import credits_charge, credits_charge_with_row, credits_refund
from core.errors import (
    ApplicationError,
    InvalidRequest,
    NotFound,
    TaskNotCancellable,
    TemporaryUnavailable,
)
from core.metrics import TASK_QUEUE_WAIT, TASK_RUN, TASKS_FINISHED
from core.operations import DIFFUSION_OPERATIONS, Operation
from core.prepared import INTEGER_PLACEHOLDER, PreparedLookup
from imaging import inputs as image_inputs
from imaging.broker import broker_lost_messages, broker_marker_set
from imaging.engine.types import LANGUAGE_PARAM
from imaging.models import FINISHED_STATUSES, Batch, Task
from imaging.notifications import task_finished_publish
from imaging.selectors import charge_refunded, task_by_pk
from imaging.signals import task_finished
from imaging.storage import image_save

logger = logging.getLogger(__name__)


def operation_queue(operation: Operation) -> str:
    return "gpu" if operation in DIFFUSION_OPERATIONS else "cpu"


@dataclass(frozen=True)
class TaskInput:
    """One task's share of a request: its parameters and decoded input images."""

    params: dict
    images: tuple[Image.Image, ...] = ()


# Seeds are drawn when a request names none, so that every stored task has one: its result can
# be reproduced, and a batch shares one seed across its items.
SEED_MAX = 2**32 - 1


def task_inputs_prepare(
    *,
    account: Account,
    operation: Operation,
    params: dict,
    sources: list,
    language: str | None = None,
) -> list[TaskInput]:
    """What one request stores as tasks: its images loaded under the plan's limits (fetched
    together, 400 before anything is charged), a seed drawn when none was given, the request's
    language (for descriptions; kept out of what is shown as the request), and for a batch one
    task per image, every item after the first edited against the first as its reference."""
    if operation == Operation.BATCH_EDIT:
        batch_size_check(account=account, images=len(sources))
    params = {"seed": random.randint(0, SEED_MAX), **params}  # noqa: S311 (not a secret)
    if language:
        params[LANGUAGE_PARAM] = language
    images = tuple(account_images_load(account=account, sources=sources, operation=operation))
    if operation != Operation.BATCH_EDIT:
        return [TaskInput(params=params, images=images)]
    first, *rest = images
    return [TaskInput(params=params, images=(first,))] + [
        TaskInput(params=params, images=(image, first)) for image in rest
    ]


def batch_size_check(*, account: Account, images: int) -> None:
    limit = account_plan(account=account).max_batch_images
    if images > limit:
        reason = _("your plan allows %(n)d images per batch") % {"n": limit}
        raise InvalidRequest(f"image_urls: {reason}")


def account_images_load(
    *, account: Account, sources: list, operation: Operation
) -> list[Image.Image]:
    """A request's images under the account's file and pixel limits, in a shape the operation
    takes."""
    if not sources:
        return []
    return image_inputs.images_load(
        sources=sources,
        operation=operation,
        max_bytes=account_upload_limit_bytes(account=account),
        max_pixels=account_pixel_limit(account=account),
    )


@dataclass(frozen=True)
class TaskOrigin:
    """Who asked: an API key's request, or a member in the dashboard (recorded on the task)."""

    source: str = Task.Source.API
    api_key: ApiKey | None = None
    member: User | None = None


def task_submit(
    *,
    account: Account,
    operation: Operation,
    task_input: TaskInput,
    origin: TaskOrigin | None = None,
) -> Task:
    """Charge, store the inputs, create the task and enqueue it once the transaction commits."""
    return tasks_submit(account=account, operation=operation, inputs=[task_input], origin=origin)[0]


def tasks_submit(
    *,
    account: Account,
    operation: Operation,
    inputs: list[TaskInput],
    origin: TaskOrigin | None = None,
) -> list[Task]:
    """Several tasks charged all-or-nothing (a batch); InsufficientCredits leaves nothing behind."""
    queue_depth_check(queue=operation_queue(operation), adding=len(inputs))
    names = [
        [image_save(folder="inputs", account_id=account.pk, image=image) for image in item.images]
        for item in inputs
    ]
    try:
        tasks = _tasks_create(
            account=account,
            operation=operation,
            inputs=inputs,
            names=names,
            origin=origin or TaskOrigin(),
        )
    except Exception:
        # Not charged, nothing created: the stored inputs have no task to belong to.
        for name in (n for files in names for n in files):
            default_storage.delete(name)
        raise
    for task in tasks:
        _enqueue(task)
    return tasks


def queue_depth_check(*, queue: str, adding: int) -> None:
    """Refuse new GPU work while the GPU queue is past its depth limit: the client should retry
    later rather than wait behind a queue no sync request can outlast."""
    limit = settings.IMAGING_GPU_QUEUE_MAX_DEPTH
    if queue != "gpu" or not limit:
        return
    if _queue_depth.waiting(queue=queue, limit=limit) + adding > limit:
        raise TemporaryUnavailable(
            _("The image generation queue is full; retry shortly."), headers={"Retry-After": "30"}
        )
    _queue_depth.added(queue=queue, count=adding)


class _QueueDepth:
    """Pending tasks per queue, counted in the database at most once per
    IMAGING_QUEUE_DEPTH_RECOUNT_SECONDS per process; between counts this process adds what it
    submits. Counting on every submit was an eighth of a submit's CPU, and a limit meant to
    shed load can be a second out of date."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[float, int]] = {}

    def waiting(self, *, queue: str, limit: int) -> int:
        now = time.monotonic()
        with self._lock:
            counted_at, count = self._counts.get(queue, (-math.inf, 0))
        if now - counted_at < settings.IMAGING_QUEUE_DEPTH_RECOUNT_SECONDS:
            return count
        # Counting stops past the limit: a long queue costs no more to check than a short one.
        pending = Task.unscoped_objects.filter(queue=queue, status=Task.Status.PENDING)
        count = pending.values("pk")[: limit + 1].count()
        with self._lock:
            self._counts[queue] = (now, count)
        return count

    def added(self, *, queue: str, count: int) -> None:
        with self._lock:
            if queue in self._counts:
                counted_at, waiting = self._counts[queue]
                self._counts[queue] = (counted_at, waiting + count)


_queue_depth = _QueueDepth()


def _tasks_create(
    *,
    account: Account,
    operation: Operation,
    inputs: list[TaskInput],
    names: list[list[str]],
    origin: TaskOrigin,
) -> list[Task]:
    if len(inputs) == 1 and operation != Operation.BATCH_EDIT:
        # One task: on PostgreSQL its charge and its row in one statement (the common submit).
        task = _task_new(
            account=account, operation=operation, item=inputs[0], files=names[0], origin=origin
        )
        task.charge = credits_charge_with_row(
            account=account,
            cost=task.credits,
            idempotency_key=_charge_key(task),
            reference=task.public_id,
            row=task,
            charge_field="charge",
        )
        if task.charge is not None:
            return [task]
    with transaction.atomic():
        group = None
        if len(inputs) > 1 or operation == Operation.BATCH_EDIT:
            group = Batch.objects.create(
                account=account,
                operation=operation,
                total_credits=operation_cost(operation, images=len(inputs)),
            )
        tasks = []
        for index, (item, files) in enumerate(zip(inputs, names, strict=True)):
            task = _task_new(
                account=account,
                operation=operation,
                item=item,
                files=files,
                origin=origin,
                batch=group,
                batch_index=index,
            )
            # Charged before the insert (the public id exists already), so the row is written
            # once, with its charge.
            task.charge = credits_charge(
                account=account,
                cost=task.credits,
                idempotency_key=_charge_key(task),
                reference=task.public_id,
            )
            task.save(force_insert=True)
            tasks.append(task)
    return tasks


def _task_new(
    *,
    account: Account,
    operation: Operation,
    item: TaskInput,
    files: list[str],
    origin: TaskOrigin,
    batch: Batch | None = None,
    batch_index: int = 0,
) -> Task:
    """A task about to be charged and inserted (not saved yet)."""
    return Task(
        account=account,
        operation=operation,
        params=item.params,
        input_files=files,
        queue=operation_queue(operation),
        batch=batch,
        batch_index=batch_index,
        credits=operation_cost(operation),
        source=origin.source,
        api_key=origin.api_key,
        submitted_by=origin.member,
    )


def _charge_key(task: Task) -> str:
    return f"charge:{task.public_id}"


def _enqueue(task: Task) -> None:
    if _publish(task):
        return
    task_fail(
        task_id=task.pk,
        error=TemporaryUnavailable(_("The processing queue is unreachable; retry shortly.")),
    )
    raise TemporaryUnavailable(
        _("The processing queue is unreachable; retry shortly."), headers={"Retry-After": "5"}
    )


class ClaimResult:
    CLAIMED = "claimed"
    BUSY = "busy"  # the account already runs its plan's number of tasks: try again shortly
    # This very message holds the task's lease (redelivered after its worker died, or delivered
    # twice): try again once the lease may have lapsed.
    LEASED = "leased"
    GONE = "gone"  # finished, cancelled, leased by another message, or out of attempts
    EXHAUSTED = "exhausted"  # out of attempts: task_claim fails it and answers GONE


def task_claim(*, task_id: int, claim_id: str | None = None) -> str:
    """Move a task to processing under a fresh lease, once, within the account's concurrency cap.

    `claim_id` is the Celery message id. A pending task is claimed; so is a processing task
    whose lease lapsed (its worker died), up to IMAGING_MAX_ATTEMPTS, after which it is failed
    and refunded. The account row lock orders concurrent claims of one account; nothing slow
    runs under it. On PostgreSQL the claim is one statement (every task's worker runs it).
    """
    now = timezone.now()
    claim = _claim_in_database if connection.vendor == "postgresql" else _claim_in_python
    outcome = claim(task_id=task_id, claim_id=claim_id or "", now=now)
    if outcome == ClaimResult.EXHAUSTED:
        # Fail it (with its refund) outside the claim's transaction.
        task_fail(task_id=task_id, error=ApplicationError(_("The task failed repeatedly.")))
        return ClaimResult.GONE
    return outcome


def _claim_in_database(*, task_id: int, claim_id: str, now: datetime) -> str:
    """The claim as imaging migration 0010's function: the rule of _claim_in_python in one
    round trip, so the account's lock is held for microseconds, not across five round trips
    (tests/imaging/test_claim_function.py holds the two to the same outcomes)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT imaging_task_claim(%s, %s, %s, %s, %s, %s)",
            [
                task_id,
                claim_id,
                now,
                _lease_end(now),
                settings.IMAGING_MAX_ATTEMPTS,
                FREE_PLAN_CODE,
            ],
        )
        return cursor.fetchone()[0]


def _claim_in_python(*, task_id: int, claim_id: str, now: datetime) -> str:
    with transaction.atomic():
        # One statement for the lock and the plan: everything under the lock waits for every
        # other claim of the account, so it stays short (bench/queueing.py).
        account = _account_lock(task_id=task_id, with_plan=True)
        if account is None:
            return ClaimResult.GONE
        task = task_by_pk(task_id=task_id)  # of the locked account: the lock found it by the task
        if task is None:
            return ClaimResult.GONE
        if task.status == Task.Status.PROCESSING and not task_lease_lapsed(task=task, now=now):
            same_message = bool(claim_id) and claim_id == task.claimed_by
            return ClaimResult.LEASED if same_message else ClaimResult.GONE
        if task.status not in (Task.Status.PENDING, Task.Status.PROCESSING):
            return ClaimResult.GONE
        if task.attempts >= settings.IMAGING_MAX_ATTEMPTS:
            return ClaimResult.EXHAUSTED
        running = (
            Task.objects.for_account(account)
            .filter(status=Task.Status.PROCESSING, lease_expires_at__gte=now)
            .exclude(pk=task.pk)
            .count()
        )
        if running >= account_plan(account=account).max_concurrent_tasks:
            return ClaimResult.BUSY
        Task.objects.for_account(account).filter(pk=task.pk).update(
            status=Task.Status.PROCESSING,
            started_at=now,
            attempts=task.attempts + 1,
            progress=0,
            lease_expires_at=_lease_end(now),
            claimed_by=claim_id,
        )
        return ClaimResult.CLAIMED


def task_lease_lapsed(*, task: Task, now: datetime) -> bool:
    """Whether a processing task's worker stopped renewing its lease. A task without a lease
    (never claimed since leases exist) is not taken to have lapsed."""
    return task.lease_expires_at is not None and task.lease_expires_at < now


def task_lease_renew(*, task_id: int, claim_id: str | None) -> bool:
    """Extend the lease of a task this claim still holds; False once it holds it no longer
    (cancelled, finished, or taken over after the lease lapsed)."""
    return bool(
        Task.unscoped_objects.filter(
            pk=task_id, status=Task.Status.PROCESSING, claimed_by=claim_id or ""
        ).update(lease_expires_at=_lease_end(timezone.now()))
    )


def _lease_end(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.IMAGING_TASK_LEASE_SECONDS)


def task_progress(*, task_id: int, percent: int, claim_id: str | None) -> None:
    """The progress of a task this claim still holds (a stalled worker's does not overwrite the
    claim that took over); 100 is written by the completion."""
    Task.unscoped_objects.filter(
        pk=task_id, status=Task.Status.PROCESSING, claimed_by=claim_id or ""
    ).update(progress=max(0, min(int(percent), 99)))


def task_complete(
    *,
    task_id: int,
    result_files: list[str],
    mask_file: str = "",
    description: str,
    seed: int | None,
    timings: dict[str, float],
    demo: bool,
    claimed: Task | None = None,
) -> bool:
    """Store a result; False when the task was no longer processing (cancelled meanwhile), in
    which case the result is not kept. `claimed`: the task as its worker read it after the
    claim; with the result applied it is the row as committed, so the finish does not read the
    row again (a round trip of every task, bench/queueing.py)."""
    result = {
        "status": Task.Status.COMPLETED,
        "progress": 100,
        "result_files": result_files,
        "mask_file": mask_file,
        "description": description,
        "seed": seed,
        "timings": timings,
        "demo": demo,
        "completed_at": timezone.now(),
    }
    finished = Task.unscoped_objects.filter(pk=task_id, status=Task.Status.PROCESSING).update(
        **result
    )
    if not finished:
        return False
    if claimed is not None:
        for name, value in result.items():
            setattr(claimed, name, value)
    _finished(task_id=task_id, task=claimed)
    return True


def task_fail(*, task_id: int, error: ApplicationError, claim_id: str | None = None) -> None:
    """Mark a task failed and give its credits back (once, whoever calls). A worker passes its
    `claim_id`: after it stalled and another claim took the task over, its failure is not the
    task's."""
    unfinished = Task.unscoped_objects.filter(
        pk=task_id, status__in=[Task.Status.PENDING, Task.Status.PROCESSING]
    )
    if claim_id is not None:
        unfinished = unfinished.filter(claimed_by=claim_id)
    with transaction.atomic():
        _account_lock(task_id=task_id)
        updated = unfinished.update(
            status=Task.Status.FAILED,
            error_code=error.code,
            error_message=str(error.details or error.message)[:500],
            completed_at=timezone.now(),
        )
        if updated:
            _refund(task_id=task_id, note=f"task failed: {error.code}")
            _finished(task_id=task_id)


def task_cancel(*, account: Account, public_id: str, even_if_running: bool = False) -> Task:
    """Cancel a task and refund it: a pending one, or a processing one whose worker is gone (its
    lease lapsed). Staff pass `even_if_running` to stop a live one too: its worker sees the
    cancellation at its next progress check and its result is not kept."""
    task = Task.objects.for_account(account).filter(public_id=public_id).first()
    if task is None:
        raise NotFound(_("No such task"))
    now = timezone.now()
    stoppable = Q(status=Task.Status.PENDING) | Q(
        status=Task.Status.PROCESSING, lease_expires_at__lt=now
    )
    if even_if_running:
        stoppable |= Q(status=Task.Status.PROCESSING)
    with transaction.atomic():
        _account_lock(task_id=task.pk)
        cancelled = (
            Task.objects.for_account(account)
            .filter(stoppable, pk=task.pk)
            .update(status=Task.Status.CANCELLED, completed_at=now)
        )
        if cancelled:
            _refund(task_id=task.pk, note="task cancelled")
            _finished(task_id=task.pk, announce=False)
    task.refresh_from_db()
    return task


def task_cancel_by_owner(*, account: Account, public_id: str) -> Task:
    """The owner's cancel (POST /v1/task/{id}/cancel): a pending or stalled task is cancelled and
    refunded, again is a no-op; a task a worker is running or that finished is refused."""
    task = task_cancel(account=account, public_id=public_id)
    if task.status != Task.Status.CANCELLED:
        raise TaskNotCancellable(
            _("Only pending or stalled tasks can be cancelled; this one is %(status)s.")
            % {"status": task.status}
        )
    return task


class StaffRefund(StrEnum):
    """What task_refund_by_staff came to for one task."""

    REFUNDED = "refunded"
    ALREADY_REFUNDED = "already refunded"
    NOT_FAILED = "not failed"
    NOT_CHARGED = "not charged"


def task_refund_by_staff(*, task: Task, actor: User, reason: str) -> StaffRefund:
    """Give a failed task's credits back once, audited as a StaffMoneyAction naming `actor`.
    task_fail refunds by itself; this is for the charge a refund never reached."""
    if task.status != Task.Status.FAILED:
        return StaffRefund.NOT_FAILED  # a failed task never changes state again
    if task.charge is None:
        return StaffRefund.NOT_CHARGED
    with transaction.atomic():
        # The account row first, as everywhere here: a concurrent refund of this charge waits,
        # so "not refunded yet" stays true until this one commits.
        _account_lock(task_id=task.pk)
        if Task.unscoped_objects.filter(charge_refunded(), pk=task.pk).exists():
            return StaffRefund.ALREADY_REFUNDED
        refund = credits_refund(charge=task.charge, note=reason)
        StaffMoneyAction.objects.create(
            actor=actor,
            account=task.account,
            action=f"refund task {task.public_id}",
            amount=refund.amount,
            reason=reason,
        )
    return StaffRefund.REFUNDED


def _account_lock(*, task_id: int, with_plan: bool = False) -> Account | None:
    """Lock the row of a task's account, inside the caller's transaction (None: no such task);
    `with_plan` reads its subscription and plan in the same statement (for account_plan).

    Claims, failures and cancellations take it before they touch the task: one lock order. A
    refund updates the account row, so a cancellation that updated its task first and the
    account second deadlocked with a claim holding the account and waiting for the task.
    Compiled once (core/prepared.py): every task's claim runs it.
    """
    return (_account_lock_with_plan if with_plan else _account_lock_only).get(task_id)


def _task_account_locked(task_id: int) -> QuerySet[Account]:
    task_account = Task.unscoped_objects.filter(pk=task_id).values("account_id")[:1]
    return Account.objects.select_for_update(of=("self",)).filter(pk=Subquery(task_account))


_account_lock_only: PreparedLookup[Account] = PreparedLookup(
    _task_account_locked, placeholder=INTEGER_PLACEHOLDER
)
_account_lock_with_plan: PreparedLookup[Account] = PreparedLookup(
    lambda task_id: _task_account_locked(task_id).select_related("subscription__plan"),
    placeholder=INTEGER_PLACEHOLDER,
)


def _finished(*, task_id: int, announce: bool = True, task: Task | None = None) -> None:
    """Once the finish is committed: wake the requests waiting for the task, count it and, for
    a completion or failure (`announce`), tell the layers above (webhooks), from one read of
    its row (none when the caller has the row as committed: `task`). Robust: an error of a
    receiver is logged and the finish stands."""
    transaction.on_commit(lambda: task_finished_publish(task_id=task_id))
    transaction.on_commit(
        lambda: _finished_committed(task_id=task_id, announce=announce, task=task), robust=True
    )


def _finished_committed(*, task_id: int, announce: bool, task: Task | None) -> None:
    task = task or task_by_pk(task_id=task_id)
    if task is None:
        return
    _finished_observe(task=task)
    if announce:
        task_finished.send_robust(sender=Task, task_id=task_id, task=task)


def _finished_observe(*, task: Task) -> None:
    """A finished task in the metrics: its outcome, its wait in the queue (submitted to its last
    start) and its run (that start to the finish); a task never started only counts."""
    operation, outcome = task.operation, task.status
    created_at, started_at, completed_at = task.created_at, task.started_at, task.completed_at
    TASKS_FINISHED.labels(operation=operation, outcome=outcome).inc()
    if started_at is None:
        return
    TASK_QUEUE_WAIT.labels(operation=operation).observe(
        max((started_at - created_at).total_seconds(), 0.0)
    )
    if completed_at is not None:
        TASK_RUN.labels(operation=operation, outcome=outcome).observe(
            max((completed_at - started_at).total_seconds(), 0.0)
        )


def _refund(*, task_id: int, note: str) -> None:
    charge_id = Task.unscoped_objects.values_list("charge_id", flat=True).get(pk=task_id)
    if charge_id is not None:
        credits_refund(charge=CreditLedgerEntry.unscoped_objects.get(pk=charge_id), note=note)


def tasks_sweep(*, now: datetime | None = None) -> int:
    """Leave no task stuck (run by beat every IMAGING_SWEEP_SECONDS); returns how many tasks it
    queued again or failed.

    - Any task unfinished after IMAGING_TASK_MAX_AGE_HOURS is failed and refunded (the backstop).
    - A processing task whose lease lapsed (its worker died) is queued again, or failed and
      refunded once its attempts are used up.
    - When the broker lost its messages (restarted empty), every pending task is queued again.
      A duplicate message is harmless: the claim is conditional, so a task runs at most once.
    """
    now = now or timezone.now()
    failed = _overdue_fail(now=now)  # first: what is past saving is not queued again
    return failed + _leases_lapsed_requeue(now=now) + _lost_messages_requeue()


def _leases_lapsed_requeue(*, now: datetime) -> int:
    lapsed = Task.unscoped_objects.filter(status=Task.Status.PROCESSING, lease_expires_at__lt=now)
    count = 0
    for task in lapsed.only("pk", "public_id", "queue", "attempts"):
        if task.attempts >= settings.IMAGING_MAX_ATTEMPTS:
            task_fail(task_id=task.pk, error=ApplicationError(_("The task failed repeatedly.")))
            count += 1
        elif _publish(task):
            # Published first: if a worker claims it meanwhile, its fresh lease keeps this
            # update from touching the task.
            Task.unscoped_objects.filter(
                pk=task.pk, status=Task.Status.PROCESSING, lease_expires_at__lt=now
            ).update(status=Task.Status.PENDING, progress=0, lease_expires_at=None)
            count += 1
    return count


def _lost_messages_requeue() -> int:
    try:
        if not broker_lost_messages():
            return 0
        pending = list(
            Task.unscoped_objects.filter(status=Task.Status.PENDING).only(
                "pk", "public_id", "queue"
            )
        )
        broker_marker_set()  # the queues' bindings first, or the publishes below are dropped
    except (BrokerError, OSError):
        logger.warning("broker unreachable; the next sweep checks its messages again")
        return 0
    requeued = sum(_publish(task) for task in pending)
    if requeued:
        logger.warning("the broker lost its messages: %d pending task(s) queued again", requeued)
    return requeued


def _overdue_fail(*, now: datetime) -> int:
    overdue = Task.unscoped_objects.filter(
        status__in=[Task.Status.PENDING, Task.Status.PROCESSING],
        created_at__lt=now - timedelta(hours=settings.IMAGING_TASK_MAX_AGE_HOURS),
    )
    count = 0
    for task_id in overdue.values_list("pk", flat=True):
        task_fail(task_id=task_id, error=ApplicationError(_("The task did not finish in time.")))
        count += 1
    return count


def _publish(task: Task) -> bool:
    """Queue a task's message; False (logged) when the broker is unreachable."""
    from imaging.tasks import task_run  # the Celery task module imports this one

    try:
        task_run.apply_async(args=[task.pk], queue=task.queue)
    except (BrokerError, OSError):
        logger.exception("could not queue %s", task.public_id)
        return False
    return True


def task_files_purge(*, now: datetime | None = None, limit: int = 500) -> int:
    """Delete the stored images (inputs, results, masks) of tasks finished more than
    IMAGING_FILE_RETENTION_DAYS ago. The rows stay (history, usage, billing); their image URLs
    become null. Run by beat, `limit` tasks a run; returns how many tasks it emptied."""
    days = settings.IMAGING_FILE_RETENTION_DAYS
    if not days:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    expired = Task.unscoped_objects.filter(
        files_deleted=False, completed_at__lt=cutoff, status__in=FINISHED_STATUSES
    ).order_by("completed_at")[:limit]
    emptied = 0
    for task in expired:
        for name in [*task.input_files, *task.result_files, task.mask_file]:
            if name:
                default_storage.delete(name)  # a file already gone is no error
        emptied += Task.unscoped_objects.filter(pk=task.pk).update(
            input_files=[], result_files=[], mask_file="", files_deleted=True
        )
    return emptied
