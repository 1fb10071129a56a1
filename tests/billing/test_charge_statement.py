"""The charge's one statement (PostgreSQL) and the general path (SQLite) leave the same rows."""

import pytest
from django.db import connection, transaction

from accounts.models import Account
from billing.models import CreditLedgerEntry, Subscription
from billing.selectors import ACCOUNT_PLAN_SQL, FREE_PLAN_CODE, account_plan, plan_get
from billing.services import credits_charge, subscription_set_plan

pytestmark = pytest.mark.django_db


def test_the_returned_charge_is_the_stored_row(account: Account) -> None:
    entry = credits_charge(account=account, cost=4, idempotency_key="k1", reference="r", note="n")
    stored = CreditLedgerEntry.objects.for_account(account).get(pk=entry.pk)
    fields = ("kind", "amount", "usage", "balance_after", "idempotency_key", "reference", "note")
    assert [getattr(entry, f) for f in fields] == [getattr(stored, f) for f in fields]
    assert entry.created_at == stored.created_at
    assert account.credit_balance == stored.balance_after == 46


def test_a_repeat_inside_a_transaction_returns_the_first_and_keeps_it_usable(
    account: Account,
) -> None:
    with transaction.atomic():
        first = credits_charge(account=account, cost=5, idempotency_key="k2")
        again = credits_charge(account=account, cost=5, idempotency_key="k2")
        assert again.pk == first.pk
        # The caller's transaction still works after the repeat's rolled-back attempt.
        assert CreditLedgerEntry.objects.for_account(account).filter(kind="charge").count() == 1
    assert Account.objects.get(pk=account.pk).credit_balance == 45


def test_an_unlimited_plan_records_the_usage_and_debits_nothing(account: Account) -> None:
    subscription_set_plan(account=account, plan=plan_get(code="max"))
    before = Account.objects.get(pk=account.pk).credit_balance
    entry = credits_charge(account=account, cost=8, idempotency_key="k3")
    assert (entry.amount, entry.usage, entry.balance_after) == (0, 8, before)
    assert Account.objects.get(pk=account.pk).credit_balance == before


@pytest.mark.parametrize("plan_code", [None, "free", "max"])
def test_the_charges_plan_sql_agrees_with_account_plan(account: Account, plan_code) -> None:
    if plan_code is None:
        Subscription.objects.filter(account=account).delete()  # no row: the free plan
    else:
        subscription_set_plan(account=account, plan=plan_get(code=plan_code))
    with connection.cursor() as cursor:
        cursor.execute(ACCOUNT_PLAN_SQL, {"account": account.pk, "free_plan": FREE_PLAN_CODE})
        (monthly_credits,) = cursor.fetchone()
    assert monthly_credits == account_plan(account=account).monthly_credits
