"""On PostgreSQL, with real concurrent connections, credits are never spent twice."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from django.db.models import Sum

from accounts.models import Account
from accounts.services import user_create, user_personal_account_ensure
from billing.models import CreditLedgerEntry
from billing.selectors import credits_drift
from billing.services import credits_charge, credits_refund, credits_set_balance
from core.errors import InsufficientCredits
from tests.conftest import require_postgres

# serialized_rollback: the flush after each test would otherwise delete the seeded plans.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

WORKERS = 32


@pytest.fixture
def funded_account() -> Account:
    require_postgres("real concurrent connections")
    account = user_personal_account_ensure(user=user_create(email="hot@example.com"))
    credits_set_balance(account=account, balance=500, kind="adjustment", idempotency_key="fund")
    return account


def in_thread(fn):
    def run(*args):
        try:
            return fn(*args)
        finally:
            connections.close_all()  # each thread has its own real connection

    return run


def balance(account: Account) -> int:
    return Account.objects.values_list("credit_balance", flat=True).get(pk=account.pk)


def ledger_total(account: Account) -> int:
    return CreditLedgerEntry.objects.for_account(account).aggregate(t=Sum("amount"))["t"]


def test_200_concurrent_charges_of_5_against_500(funded_account: Account) -> None:
    @in_thread
    def charge(i: int) -> bool:
        try:
            credits_charge(account=funded_account, cost=5, idempotency_key=f"task_{i}")
        except InsufficientCredits:
            return False
        return True

    with ThreadPoolExecutor(WORKERS) as pool:
        outcomes = list(pool.map(charge, range(200)))

    assert outcomes.count(True) == 100
    assert balance(funded_account) == 0
    assert ledger_total(funded_account) == 0
    assert credits_drift() == []


def test_concurrent_charges_with_interleaved_refunds(funded_account: Account) -> None:
    @in_thread
    def charge_and_maybe_refund(i: int) -> tuple[bool, bool]:
        try:
            entry = credits_charge(account=funded_account, cost=5, idempotency_key=f"task_{i}")
        except InsufficientCredits:
            return False, False
        if i % 3 == 0:  # a third of the tasks fail and give their credits back
            credits_refund(charge=entry)
            credits_refund(charge=entry)  # a retried refund changes nothing
            return True, True
        return True, False

    with ThreadPoolExecutor(WORKERS) as pool:
        outcomes = list(pool.map(charge_and_maybe_refund, range(200)))

    charged = sum(1 for ok, _ in outcomes if ok)
    refunded = sum(1 for _, back in outcomes if back)
    assert charged - refunded <= 100
    assert balance(funded_account) == 500 - 5 * (charged - refunded) >= 0
    assert ledger_total(funded_account) == balance(funded_account)
    assert credits_drift() == []


def test_the_same_charge_from_many_threads_is_taken_once(funded_account: Account) -> None:
    @in_thread
    def charge(_: int) -> int:
        return credits_charge(account=funded_account, cost=5, idempotency_key="retry").pk

    with ThreadPoolExecutor(WORKERS) as pool:
        ids = set(pool.map(charge, range(64)))

    assert len(ids) == 1
    assert balance(funded_account) == 495 == ledger_total(funded_account)
