"""Reads of tasks and batches: a client's from its own account; the worker's by primary key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial

from django.db.models import CharField, Count, Exists, F, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.fields.tuple_lookups import Tuple, TupleLessThan
from django.db.models.functions import Concat, TruncDate
from django.utils import timezone

from accounts.models import Account
from billing.models import REFUND_KEY_PREFIX, CreditLedgerEntry
from billing.selectors import rollup_split, usage_rollups_kept
from core.errors import InvalidRequest, NotFound
from core.prepared import INTEGER_PLACEHOLDER, PreparedLookup
from imaging.models import FINISHED_STATUSES, Batch, Task, TaskUsageRollup
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


# A page of GET /v1/tasks holds at most this many tasks (20 unless the client asks).
TASK_PAGE_MAX = 100
TASK_PAGE_DEFAULT = 20


@dataclass(frozen=True)
class TaskPage:
    tasks: list[Task]
    has_more: bool


def tasks_page(
    *,
    account: Account,
    limit: int = TASK_PAGE_DEFAULT,
    starting_after: str | None = None,
    status: str | None = None,
    operation: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    api_key_id: int | None = None,
) -> TaskPage:
    """The account's tasks newest first, `limit` at a time, after the task `starting_after`.

    Ordered by (created_at, id): with the (account, [status | operation,] created_at, id) indexes
    a page is one backward index range scan, from the cursor (or the newest) down to
    `created_after`, however many tasks the table holds. `api_key_id` (the dashboard's filter:
    the tasks one key made) is a filter on top of the account's scan, so another tenant's key id
    matches nothing."""
    tasks = Task.objects.for_account(account)
    if status:
        tasks = tasks.filter(status=status)
    if operation:
        tasks = tasks.filter(operation=operation)
    if api_key_id is not None:
        tasks = tasks.filter(api_key_id=api_key_id)
    if created_after:
        tasks = tasks.filter(created_at__gt=created_after)
    if created_before:
        tasks = tasks.filter(created_at__lt=created_before)
    if starting_after:
        cursor = Task.objects.for_account(account).filter(public_id=starting_after).first()
        if cursor is None:
            raise InvalidRequest(f"starting_after: no task {starting_after!r} in this account")
        # A row comparison, (created_at, id) < (the cursor's): the index's own order, so the
        # scan starts at the cursor (Django's tuple lookup, the one composite keys use).
        after_cursor = TupleLessThan(
            Tuple(F("created_at"), F("pk")), (cursor.created_at, cursor.pk)
        )
        tasks = tasks.filter(after_cursor)
    rows = list(tasks.order_by("-created_at", "-pk")[: limit + 1])
    return TaskPage(tasks=rows[:limit], has_more=len(rows) > limit)


# --- The worker's reads -------------------------------------------------------------------------
# A worker, a waiting request or a receiver of `task_finished` holds a task's primary key from a
# claim, a submit or a signal of ours, never from a client; the task names its own account.


@dataclass(frozen=True)
class DailyUsage:
    day: date
    operation: str
    count: int
    credits: int  # spent: a failed or cancelled task's credits were refunded


# Credits a task spent: a failed or cancelled task's were refunded.
_SPENT_CREDITS = Sum(
    "credits", filter=~Q(status__in=[Task.Status.FAILED, Task.Status.CANCELLED]), default=0
)


def _recent_tasks(*, account: Account, days: int) -> QuerySet[Task]:
    return Task.objects.for_account(account).filter(
        created_at__gte=timezone.now() - timedelta(days=days)
    )


def _recent_usage(
    *, account: Account, days: int, by: tuple[str, ...]
) -> dict[tuple, tuple[int, int]]:
    """(tasks, credits spent) per `by` (fields of both Task and TaskUsageRollup, or "day") over
    the last `days` days, as the tasks themselves add up: TaskUsageRollup for the whole days and
    hours, the tasks for the window's first, partial hour, in one query (for 30 days of a busy
    account ~2k rollup rows and at most an hour of tasks, instead of ~500k tasks)."""
    split = rollup_split(since=timezone.now() - timedelta(days=days))
    first_hour = Task.objects.for_account(account).filter(
        created_at__gte=split.since, created_at__lt=split.first_hour
    )
    rollups = TaskUsageRollup.objects.for_account(account).filter(split.rollups())
    if "day" in by:
        first_hour = first_hour.annotate(day=TruncDate("created_at", tzinfo=UTC))
        rollups = rollups.annotate(day=TruncDate("start", tzinfo=UTC))
    first_hour = first_hour.values(*by).annotate(count=Count("id"), credits=_SPENT_CREDITS)
    rollups = rollups.values(*by).annotate(count=Sum("tasks"), credits=Sum("credits", default=0))
    sums: dict[tuple, tuple[int, int]] = {}
    for row in first_hour.order_by().union(rollups.order_by(), all=True):
        key = tuple(row[name] for name in by)
        count, credits = sums.get(key, (0, 0))
        sums[key] = (count + row["count"], credits + row["credits"])
    # The rollups of tasks deleted since (with their batch) are kept, as zeros: no group.
    return {key: value for key, value in sums.items() if value[0] > 0}


def account_usage_by_day(*, account: Account, days: int) -> list[DailyUsage]:
    """Tasks and credits spent per UTC day and operation over the last `days` days."""
    if usage_rollups_kept():
        sums = _recent_usage(account=account, days=days, by=("day", "operation"))
        return [DailyUsage(day, op, *sums[day, op]) for day, op in sorted(sums)]
    rows = (
        _recent_tasks(account=account, days=days)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", "operation")
        .annotate(count=Count("id"), credits=_SPENT_CREDITS)
        .order_by("day", "operation")
    )
    return [DailyUsage(r["day"], r["operation"], r["count"], r["credits"]) for r in rows]


@dataclass(frozen=True)
class OriginSpend:
    source: str  # Task.Source
    key_name: str | None  # None: the dashboard, or a key since deleted
    key_prefix: str | None
    count: int
    credits: int


def account_spend_by_origin(*, account: Account, days: int) -> list[OriginSpend]:
    """Tasks and credits spent per API key (and by the dashboard) over the last `days` days,
    the biggest spender first (ties: by source, key name and prefix)."""
    if usage_rollups_kept():
        origin = ("source", "api_key__name", "api_key__prefix")
        sums = _recent_usage(account=account, days=days, by=origin)
        spends = [OriginSpend(*key, *value) for key, value in sums.items()]
        return sorted(
            spends,
            key=lambda s: (-s.credits, -s.count, s.source, s.key_name or "", s.key_prefix or ""),
        )
    rows = (
        _recent_tasks(account=account, days=days)
        .values("source", "api_key__name", "api_key__prefix")
        .annotate(count=Count("id"), credits=_SPENT_CREDITS)
        .order_by("-credits", "-count")
    )
    return [
        OriginSpend(r["source"], r["api_key__name"], r["api_key__prefix"], r["count"], r["credits"])
        for r in rows
    ]


def charge_refunded() -> Exists:
    """Whether the outer Task's charge was refunded (billing writes at most one refund per
    charge, keyed by REFUND_KEY_PREFIX and the charge's key: one unique-index lookup)."""
    return Exists(
        CreditLedgerEntry.unscoped_objects.filter(
            account_id=OuterRef("account_id"),
            kind=CreditLedgerEntry.Kind.REFUND,
            idempotency_key=Concat(
                Value(REFUND_KEY_PREFIX),
                OuterRef("charge__idempotency_key"),
                output_field=CharField(),
            ),
        )
    )


# The worker reads a task this way two or three times per task: compiled once (core/prepared.py).
_task_by_pk: PreparedLookup[Task] = PreparedLookup(
    lambda task_id: Task.unscoped_objects.select_related("account").filter(pk=task_id).order_by(),
    placeholder=INTEGER_PLACEHOLDER,
)


def task_by_pk(*, task_id: int) -> Task | None:
    return _task_by_pk.get(task_id)


def task_is_cancelled(*, task_id: int) -> bool:
    return Task.unscoped_objects.filter(pk=task_id, status=Task.Status.CANCELLED).exists()


def tasks_finished(*, task_ids: list[int]) -> list[Task]:
    """Those of the tasks that have finished (completed, failed or cancelled)."""
    return list(Task.unscoped_objects.filter(pk__in=task_ids, status__in=FINISHED_STATUSES))


def tasks_waiting(*, queues: list[str], since: datetime) -> set[int]:
    """The pending tasks of `queues` created before `since` (the consumer watchdog's question:
    is there work this idle worker should have been given?)."""
    waiting = Task.unscoped_objects.filter(
        status=Task.Status.PENDING, queue__in=queues, created_at__lt=since
    )
    return set(waiting.values_list("pk", flat=True)[:100])


async def task_finished_aget(*, task_id: int) -> Task | None:
    """The task once it has finished, else None (for async waiters)."""
    return await Task.unscoped_objects.filter(pk=task_id, status__in=FINISHED_STATUSES).afirst()


# --- Rendering ----------------------------------------------------------------------------------


def task_image_url(*, task: Task) -> str | None:
    return file_url(name=task.result_files[0]) if task.result_files else None


def task_mask_url(*, task: Task) -> str | None:
    return file_url(name=task.mask_file) if task.mask_file else None


def task_detail(*, task: Task) -> dict:
    """The task as /v1/task/{id} and webhooks show it."""
    result = None
    if task.status == Task.Status.COMPLETED:
        result = {"image_url": task_image_url(task=task), "description": task.description}
        if task.mask_file:
            result["mask_url"] = task_mask_url(task=task)
    error = None
    if task.status == Task.Status.FAILED:
        error = {"code": task.error_code, "message": task.error_message}
    return {
        "task_id": task.public_id,
        "status": task.status,
        "progress": task.progress,
        "result": result,
        "error": error,
        "created_at": iso_utc(task.created_at),
        "completed_at": iso_utc(task.completed_at),
    }


def iso_utc(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def batch_detail(*, batch: Batch) -> dict:
    """The batch as /v1/batch/{id} shows it: an overall status, counts and every item."""
    tasks = list(
        Task.objects.for_account(batch.account).filter(batch=batch).order_by("batch_index")
    )
    counts = {status: 0 for status in Task.Status.values}
    for task in tasks:
        counts[task.status] += 1
    return {
        "batch_id": batch.public_id,
        "status": batch_status(counts=counts),
        "counts": counts,
        "total_credits": batch.total_credits,
        "created_at": iso_utc(batch.created_at),
        "tasks": [task_detail(task=task) for task in tasks],
    }


def batch_status(*, counts: dict[str, int]) -> str:
    """pending, processing, then completed (all done), failed (none done) or partial."""
    total = sum(counts.values())
    if counts[Task.Status.PENDING] == total:
        return "pending"
    if counts[Task.Status.PENDING] or counts[Task.Status.PROCESSING]:
        return "processing"
    if counts[Task.Status.COMPLETED] == total:
        return "completed"
    return "partial" if counts[Task.Status.COMPLETED] else "failed"


@dataclass(frozen=True)
class TaskAudit:
    """Tasks breaking a promise: each charge ends in a result or a refund, and no task stays
    unfinished longer than it may."""

    stuck: list[str]
    failed_unrefunded: list[str]
    completed_refunded: list[str]
    completed_without_result: list[str]

    @property
    def clean(self) -> bool:
        return not (
            self.stuck
            or self.failed_unrefunded
            or self.completed_refunded
            or self.completed_without_result
        )


def tasks_audit(*, unfinished_for: timedelta) -> TaskAudit:
    """Every account's tasks checked against the ledger (staff and the reliability checks)."""
    refunded = Exists(
        CreditLedgerEntry.unscoped_objects.filter(
            account_id=OuterRef("account_id"),
            kind=CreditLedgerEntry.Kind.REFUND,
            reference=OuterRef("public_id"),
        )
    )
    tasks = Task.unscoped_objects.annotate(refunded=refunded)
    ids = partial(_public_ids, tasks)
    return TaskAudit(
        stuck=ids(
            status__in=[Task.Status.PENDING, Task.Status.PROCESSING],
            created_at__lt=timezone.now() - unfinished_for,
        ),
        failed_unrefunded=ids(
            status__in=[Task.Status.FAILED, Task.Status.CANCELLED],
            charge__isnull=False,
            refunded=False,
        ),
        completed_refunded=ids(status=Task.Status.COMPLETED, refunded=True),
        completed_without_result=ids(
            status=Task.Status.COMPLETED, result_files=[], files_deleted=False
        ),
    )


def _public_ids(tasks: QuerySet[Task], **where: object) -> list[str]:
    return list(tasks.filter(**where).order_by("pk").values_list("public_id", flat=True))
