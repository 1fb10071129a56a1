"""The claim's PostgreSQL function (imaging migration 0010) and the Python claim (SQLite) give
the same outcome and leave the same row, in every case task_claim distinguishes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from PIL import Image

from accounts.models import Account
from billing.selectors import plan_get
from billing.services import subscription_set_plan
from core.operations import Operation
from imaging.models import Task
from imaging.services import (
    ClaimResult,
    TaskInput,
    _claim_in_database,
    _claim_in_python,
    task_submit,
)
from tests.conftest import require_postgres

pytestmark = pytest.mark.django_db

CLAIMS = {"database": _claim_in_database, "python": _claim_in_python}
ROW = ("status", "attempts", "progress", "lease_expires_at", "claimed_by", "started_at")


def submit(account: Account, **state: object) -> Task:
    image = Image.new("RGB", (16, 16), (10, 20, 30))
    task = task_submit(
        account=account,
        operation=Operation.ENHANCE,
        task_input=TaskInput(params={}, images=(image,)),
    )
    if state:
        Task.unscoped_objects.filter(pk=task.pk).update(**state)
    return task


def processing(
    now: datetime, lease_in: float, claimed_by: str = "msg-1", attempts: int = 1
) -> dict:
    return {
        "status": Task.Status.PROCESSING,
        "lease_expires_at": now + timedelta(seconds=lease_in),
        "claimed_by": claimed_by,
        "attempts": attempts,
        "started_at": now,
    }


def run(
    claim: Callable[..., str], task_id: int, claim_id: str, now: datetime | None = None
) -> tuple[str, tuple]:
    now = now or timezone.now()
    outcome = claim(task_id=task_id, claim_id=claim_id, now=now)
    row = Task.unscoped_objects.filter(pk=task_id).values_list(*ROW).first()
    if row is not None:  # times relative to the claim's now, so both paths compare
        status, attempts, progress, lease, claimed_by, started = row
        row = (status, attempts, progress, lease and lease - now, claimed_by, started == now)
    return outcome, row


# name: (the task's state before, made when the test runs; the claiming message; the outcome)
CASES: dict[str, tuple[Callable[[datetime], dict], str, str]] = {
    "pending": (lambda now: {}, "msg-1", ClaimResult.CLAIMED),
    "its own lease runs": (lambda now: processing(now, 30), "msg-1", ClaimResult.LEASED),
    "another's lease runs": (lambda now: processing(now, 30), "msg-2", ClaimResult.GONE),
    "the lease lapsed": (lambda now: processing(now, -5), "msg-2", ClaimResult.CLAIMED),
    "finished": (lambda now: {"status": Task.Status.COMPLETED}, "msg-1", ClaimResult.GONE),
    "out of attempts": (
        lambda now: processing(now, -5, attempts=settings.IMAGING_MAX_ATTEMPTS),
        "msg-2",
        ClaimResult.EXHAUSTED,
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_both_claims_agree(account: Account, case: str) -> None:
    require_postgres("the claim's function exists on PostgreSQL only")
    before, claim_id, expected = CASES[case]
    subscription_set_plan(account=account, plan=plan_get(code="max"))  # room for both tasks
    now = timezone.now()  # one clock for both paths, so their rows compare
    results = {}
    for name, claim in CLAIMS.items():
        task = submit(account, **before(now))
        results[name] = run(claim, task.pk, claim_id, now)
    assert results["database"] == results["python"]
    assert results["database"][0] == expected


@pytest.mark.parametrize("name", CLAIMS)
def test_the_plans_concurrency_cap_holds_and_counts_only_live_leases(
    account: Account, name: str
) -> None:
    require_postgres("the claim's function exists on PostgreSQL only")
    subscription_set_plan(account=account, plan=plan_get(code="basic"))  # 2 at a time
    claim = CLAIMS[name]
    now = timezone.now()
    submit(account, **processing(now, 30))
    submit(account, **processing(now, -5, claimed_by="dead"))  # a dead worker's: not running
    second, third = submit(account), submit(account)
    assert run(claim, second.pk, "msg-2")[0] == ClaimResult.CLAIMED
    # Busy, and the task left as it was: pending, never attempted, unleased.
    assert run(claim, third.pk, "msg-3") == (
        ClaimResult.BUSY,
        (Task.Status.PENDING, 0, 0, None, "", False),
    )


@pytest.mark.parametrize("name", CLAIMS)
def test_a_task_that_does_not_exist_is_gone(name: str) -> None:
    require_postgres("the claim's function exists on PostgreSQL only")
    assert CLAIMS[name](task_id=2**40, claim_id="m", now=timezone.now()) == ClaimResult.GONE
