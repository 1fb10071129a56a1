"""The dashboard's usage sums from TaskUsageRollup (kept by PostgreSQL triggers, migration 0009)
equal what the tasks themselves add up: whatever wrote the tasks (services, bulk inserts,
`QuerySet.update`, deletions, a key's SET NULL) and wherever the window starts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from PIL import Image

from accounts.models import Account, ApiKey
from accounts.services import api_key_issue, user_create, user_personal_account_ensure
from billing.costs import operation_cost
from core.errors import ProcessingError
from core.operations import Operation
from imaging import selectors
from imaging.models import Task, TaskUsageRollup
from imaging.services import TaskInput, TaskOrigin, task_cancel, task_fail, task_submit
from tests.conftest import require_postgres

pytestmark = pytest.mark.django_db

# Not on a whole hour: each window starts inside an hour, and inside a day.
NOW = datetime(2026, 12, 2, 10, 17, 23, 500000, tzinfo=UTC)
WINDOWS = (1, 2, 7, 30, 45)
US = timedelta(microseconds=1)


@pytest.fixture(autouse=True)
def _postgres() -> None:
    require_postgres("the usage rollup is kept by PostgreSQL triggers")


@pytest.fixture
def account() -> Account:
    return user_personal_account_ensure(user=user_create(email="rollup@example.com"))


@pytest.fixture
def keys(account: Account) -> list[ApiKey]:
    return [api_key_issue(account=account, name=f"key {n}")[0] for n in (1, 2)]


def task_at(
    account: Account,
    moment: datetime,
    *,
    operation: Operation = Operation.ENHANCE,
    status: str = Task.Status.COMPLETED,
    key: ApiKey | None = None,
) -> Task:
    task = Task.objects.create(
        account=account,
        operation=operation,
        queue="cpu",
        status=status,
        credits=operation_cost(operation),
        source=Task.Source.API if key else Task.Source.DASHBOARD,
        api_key=key,
    )
    Task.unscoped_objects.filter(pk=task.pk).update(created_at=moment)  # a move, for the trigger
    return task


def from_the_tasks(account: Account) -> Counter:
    """(span, start, operation, source, key) -> [tasks, credits spent], from every task."""
    sums: Counter = Counter()
    for task in Task.objects.for_account(account):
        spent = 0 if task.status in (Task.Status.FAILED, Task.Status.CANCELLED) else task.credits
        moment = task.created_at.astimezone(UTC)
        hour = moment.replace(minute=0, second=0, microsecond=0)
        for span, start in (("hour", hour), ("day", hour.replace(hour=0))):
            key = (span, start, task.operation, task.source, task.api_key_id)
            sums[(*key, "tasks")] += 1
            sums[(*key, "credits")] += spent
    return sums


def in_the_rollup(account: Account) -> Counter:
    sums: Counter = Counter()
    for row in TaskUsageRollup.objects.for_account(account).filter(tasks__gt=0):
        key = (row.span, row.start, row.operation, row.source, row.api_key_id)
        sums[(*key, "tasks")] += row.tasks
        sums[(*key, "credits")] += row.credits
    return sums


def assert_rollup_matches(account: Account) -> None:
    assert in_the_rollup(account) == from_the_tasks(account)
    for days in WINDOWS:
        with mock.patch("django.utils.timezone.now", return_value=NOW):
            usage = selectors.account_usage_by_day(account=account, days=days)
            spend = selectors.account_spend_by_origin(account=account, days=days)
            with mock.patch.object(selectors, "usage_rollups_kept", return_value=False):
                raw_usage = selectors.account_usage_by_day(account=account, days=days)
                raw_spend = selectors.account_spend_by_origin(account=account, days=days)
        assert usage == raw_usage, days
        # The raw query leaves the order of exact ties open; the rollup's breaks them by name.
        assert sorted(spend, key=repr) == sorted(raw_spend, key=repr), days
        assert spend == sorted(spend, key=lambda s: (-s.credits, -s.count)), days


def test_every_window_edge_counts_as_the_tasks_do(account: Account, keys: list[ApiKey]) -> None:
    other = user_personal_account_ensure(user=user_create(email="other@example.com"))
    for days in WINDOWS:
        start = NOW - timedelta(days=days)
        hour = start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        day = start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        for moment in (start - US, start, start + US, hour - US, hour, day - US, day):
            task_at(account, moment, key=keys[days % 2], operation=Operation.TEXT_TO_IMAGE)
            task_at(other, moment)  # another tenant's tasks are in no sum of this account
    for moment in (NOW - timedelta(minutes=5), NOW, NOW + timedelta(hours=2)):
        task_at(account, moment, status=Task.Status.PENDING)
    assert_rollup_matches(account)
    assert_rollup_matches(other)


def test_failures_cancellations_and_moves_change_what_was_spent(
    account: Account, keys: list[ApiKey]
) -> None:
    tasks = [
        task_at(account, NOW - timedelta(hours=n * 7), operation=op, key=keys[n % 2])
        for n, op in enumerate(list(Operation) * 3)
    ]
    Task.unscoped_objects.filter(pk=tasks[0].pk).update(status=Task.Status.FAILED)
    Task.unscoped_objects.filter(pk=tasks[1].pk).update(status=Task.Status.CANCELLED)
    Task.unscoped_objects.filter(pk=tasks[2].pk).update(status=Task.Status.PROCESSING)
    # One statement, many rows: each row's share moves.
    Task.unscoped_objects.filter(pk__in=[t.pk for t in tasks[3:9]]).update(
        status=Task.Status.FAILED
    )
    Task.unscoped_objects.filter(pk__in=[t.pk for t in tasks[3:6]]).update(
        status=Task.Status.CANCELLED  # refunded before and after: nothing changes
    )
    Task.unscoped_objects.filter(pk=tasks[9].pk).update(
        created_at=NOW - timedelta(days=40), api_key=keys[0], credits=99
    )
    Task.unscoped_objects.filter(pk=tasks[10].pk).update(progress=50, lease_expires_at=NOW)
    assert_rollup_matches(account)


def test_the_services_writes_are_counted(account: Account, keys: list[ApiKey]) -> None:
    image = TaskInput(params={}, images=(Image.new("RGB", (16, 16)),))
    by_key = TaskOrigin(source=Task.Source.API, api_key=keys[0])
    done = task_submit(account=account, operation=Operation.ENHANCE, task_input=image)
    failed = task_submit(
        account=account, operation=Operation.ENHANCE, task_input=image, origin=by_key
    )
    cancelled = task_submit(
        account=account, operation=Operation.REMOVE_BACKGROUND, task_input=image, origin=by_key
    )
    task_fail(task_id=failed.pk, error=ProcessingError("broken"))
    task_cancel(account=account, public_id=cancelled.public_id)
    assert_rollup_matches(account)
    with mock.patch("django.utils.timezone.now", return_value=done.created_at):
        spend = selectors.account_spend_by_origin(account=account, days=1)
    assert [(s.key_name, s.count, s.credits) for s in spend] == [
        (None, 1, operation_cost(Operation.ENHANCE)),
        ("key 1", 2, 0),  # both refunded
    ]


def test_a_deleted_keys_tasks_count_as_a_deleted_key(account: Account, keys: list[ApiKey]) -> None:
    for hours in range(5):
        task_at(account, NOW - timedelta(hours=hours * 13), key=keys[0])
        task_at(account, NOW - timedelta(hours=hours * 13), key=keys[1])
    keys[0].delete()  # SET NULL on its tasks; CASCADE on its rollup rows
    assert_rollup_matches(account)
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        names = {s.key_name for s in selectors.account_spend_by_origin(account=account, days=30)}
    assert names == {None, "key 2"}


def test_deleted_tasks_leave_no_group_behind(account: Account, keys: list[ApiKey]) -> None:
    kept = task_at(account, NOW - timedelta(hours=3), key=keys[0])
    gone = [
        task_at(account, NOW - timedelta(hours=3), key=keys[1], operation=Operation.STYLE_TRANSFER)
        for _ in range(3)
    ]
    gone[0].delete()
    Task.unscoped_objects.filter(pk__in=[t.pk for t in gone[1:]]).delete()
    assert_rollup_matches(account)
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        usage = selectors.account_usage_by_day(account=account, days=1)
    assert [(u.operation, u.count) for u in usage] == [(kept.operation, 1)]


def test_a_bulk_insert_is_summed_once(account: Account, keys: list[ApiKey]) -> None:
    Task.unscoped_objects.bulk_create(
        Task(
            account=account,
            operation=op,
            queue="gpu",
            credits=operation_cost(op),
            status=Task.Status.PENDING,
            source=Task.Source.API,
            api_key=keys[n % 2] if n % 3 else None,  # some by a key since deleted
        )
        for n, op in enumerate(list(Operation) * 10)
    )
    assert_rollup_matches(account)
