"""The credits used this period, summed from LedgerUsageRollup (kept by PostgreSQL triggers,
migration 0007), equal the sum of the ledger rows themselves, wherever the period starts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest

from accounts.models import Account
from accounts.services import user_create, user_personal_account_ensure
from billing import selectors
from billing.models import CreditLedgerEntry, LedgerUsageRollup
from billing.selectors import account_billing_summary, ledger_usage_since
from billing.services import credits_charge, credits_grant, credits_refund
from tests.conftest import require_postgres

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 2, 10, 17, 23, 500000, tzinfo=UTC)
US = timedelta(microseconds=1)


@pytest.fixture(autouse=True)
def _postgres() -> None:
    require_postgres("the ledger usage rollup is kept by PostgreSQL triggers")


@pytest.fixture
def account() -> Account:
    return user_personal_account_ensure(user=user_create(email="ledger-rollup@example.com"))


def entry_at(account: Account, moment: datetime, usage: int) -> CreditLedgerEntry:
    entry = CreditLedgerEntry.objects.create(
        account=account,
        kind=CreditLedgerEntry.Kind.CHARGE if usage >= 0 else CreditLedgerEntry.Kind.REFUND,
        amount=-usage,
        usage=usage,
        balance_after=0,
        idempotency_key=f"test:{moment.isoformat()}:{usage}",
    )
    CreditLedgerEntry.unscoped_objects.filter(pk=entry.pk).update(created_at=moment)
    return entry


def raw_usage_since(account: Account, since: datetime) -> int:
    with mock.patch.object(selectors, "usage_rollups_kept", return_value=False):
        return ledger_usage_since(account=account, since=since)


def assert_rollup_matches(account: Account) -> None:
    expected: Counter = Counter()
    for entry in CreditLedgerEntry.objects.for_account(account):
        hour = entry.created_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        expected["hour", hour] += entry.usage
        expected["day", hour.replace(hour=0)] += entry.usage
    kept = Counter(
        {(row.span, row.start): row.usage for row in LedgerUsageRollup.objects.for_account(account)}
    )
    assert +kept == +expected  # (zeros dropped on both sides)
    moments = [e.created_at for e in CreditLedgerEntry.objects.for_account(account)]
    for since in [NOW - timedelta(days=d, minutes=d) for d in (0, 1, 29, 31, 90)] + [
        m + delta for m in moments for delta in (-US, timedelta(0), US)
    ]:
        assert ledger_usage_since(account=account, since=since) == raw_usage_since(
            account, since
        ), since


def test_every_period_start_sums_as_the_rows_do(account: Account) -> None:
    other = user_personal_account_ensure(user=user_create(email="other@example.com"))
    for days in (0, 1, 29, 30):
        start = NOW - timedelta(days=days)
        hour = start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        day = start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        for n, moment in enumerate((start - US, start, hour - US, hour, day - US, day)):
            entry_at(account, moment, usage=n + days)
            entry_at(other, moment, usage=1000)  # another tenant's rows are in no sum of ours
    entry_at(account, NOW - timedelta(hours=5), usage=-4)  # a refund
    assert_rollup_matches(account)
    assert_rollup_matches(other)


def test_the_services_writes_are_summed(account: Account) -> None:
    credits_grant(account=account, amount=500, kind="adjustment", idempotency_key="top-up")
    charges = [
        credits_charge(account=account, cost=cost, idempotency_key=f"c{cost}") for cost in (3, 5)
    ]
    credits_refund(charge=charges[0])
    with mock.patch("django.utils.timezone.now", return_value=charges[0].created_at):
        assert_rollup_matches(account)
    used = account_billing_summary(account=account).used_this_month
    assert used == 5  # the refunded charge used nothing


def test_moved_and_deleted_rows_leave_the_sums(account: Account) -> None:
    entries = [entry_at(account, NOW - timedelta(hours=h * 5), usage=h + 1) for h in range(8)]
    CreditLedgerEntry.unscoped_objects.filter(pk=entries[0].pk).update(usage=50)
    CreditLedgerEntry.unscoped_objects.filter(pk=entries[1].pk).update(
        created_at=NOW - timedelta(days=3)
    )
    CreditLedgerEntry.unscoped_objects.filter(pk__in=[e.pk for e in entries[2:5]]).delete()
    assert_rollup_matches(account)
