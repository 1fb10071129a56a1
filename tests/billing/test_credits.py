"""Credit movements: atomic in the database, ledgered, idempotent, never below zero."""

import pytest
from django.db import IntegrityError, transaction
from django.db.models import F, Sum

from accounts.models import Account
from billing.models import CreditLedgerEntry
from billing.selectors import plan_get
from billing.services import credits_grant, credits_set_balance, subscription_set_plan

pytestmark = pytest.mark.django_db


def ledger_total(account: Account) -> int:
    return CreditLedgerEntry.objects.for_account(account).aggregate(t=Sum("amount"))["t"] or 0


def balance(account: Account) -> int:
    return Account.objects.values_list("credit_balance", flat=True).get(pk=account.pk)


def test_a_grant_is_written_once_per_idempotency_key(account: Account) -> None:
    first = credits_grant(account=account, amount=10, kind="grant", idempotency_key="promo:1")
    again = credits_grant(account=account, amount=10, kind="grant", idempotency_key="promo:1")
    assert first.pk == again.pk
    assert balance(account) == 60
    assert ledger_total(account) == balance(account)


def test_setting_the_balance_writes_the_difference(account: Account) -> None:
    entry = credits_set_balance(account=account, balance=7, kind="adjustment", idempotency_key="a")
    assert (entry.amount, entry.balance_after) == (-43, 7)
    assert ledger_total(account) == balance(account) == 7


def test_the_database_refuses_a_negative_balance(account: Account) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=account.pk).update(credit_balance=F("credit_balance") - 51)
    assert balance(account) == 50


def test_a_plan_change_starts_a_period_with_the_plans_allowance(account: Account) -> None:
    subscription = subscription_set_plan(account=account, plan=plan_get(code="basic"))
    assert subscription.plan.code == "basic"
    assert balance(account) == 500 == ledger_total(account)
    assert subscription.last_renewed_at is not None
