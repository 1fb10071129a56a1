"""Charges and refunds: atomic, ledgered, idempotent; unlimited plans record usage only."""

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Sum

from accounts.models import Account
from billing.costs import operation_cost
from billing.models import CreditLedgerEntry
from billing.selectors import account_billing_summary, credits_drift, plan_get
from billing.services import credits_charge, credits_refund, subscription_set_plan
from core.errors import InsufficientCredits
from core.operations import Operation

pytestmark = pytest.mark.django_db


def balance(account: Account) -> int:
    return Account.objects.values_list("credit_balance", flat=True).get(pk=account.pk)


def test_costs_follow_the_reference() -> None:
    assert operation_cost(Operation.IMAGE_EDIT) == 5
    assert operation_cost(Operation.REMOVE_BACKGROUND) == 3
    assert operation_cost(Operation.TEXT_TO_IMAGE) == 8
    assert operation_cost(Operation.ENHANCE) == 4
    assert operation_cost(Operation.STYLE_TRANSFER) == 6
    assert operation_cost(Operation.BATCH_EDIT, images=3) == 15


def test_a_charge_debits_and_records_usage(account: Account) -> None:
    entry = credits_charge(account=account, cost=8, idempotency_key="task_1", reference="task_1")
    assert (entry.kind, entry.amount, entry.usage, entry.balance_after) == ("charge", -8, 8, 42)
    assert balance(account) == 42
    assert account_billing_summary(account=account).used_this_month == 8


def test_the_same_charge_is_taken_once(account: Account) -> None:
    first = credits_charge(account=account, cost=5, idempotency_key="task_2")
    again = credits_charge(account=account, cost=5, idempotency_key="task_2")
    assert first.pk == again.pk and balance(account) == 45


def test_a_short_balance_is_refused_and_nothing_is_written(account: Account) -> None:
    with pytest.raises(InsufficientCredits) as error:
        credits_charge(account=account, cost=51, idempotency_key="big")
    assert "51" in str(error.value.details) and "50" in str(error.value.details)
    assert balance(account) == 50
    assert not CreditLedgerEntry.objects.for_account(account).filter(kind="charge").exists()


def test_the_last_credits_can_be_spent_exactly(account: Account) -> None:
    for i in range(10):
        credits_charge(account=account, cost=5, idempotency_key=f"t{i}")
    assert balance(account) == 0
    with pytest.raises(InsufficientCredits):
        credits_charge(account=account, cost=5, idempotency_key="t10")


def test_a_refund_restores_the_charge_once(account: Account) -> None:
    charge = credits_charge(account=account, cost=6, idempotency_key="task_3")
    refund = credits_refund(charge=charge, note="processing failed")
    again = credits_refund(charge=charge)
    assert refund.pk == again.pk
    assert (refund.amount, refund.usage) == (6, -6)
    assert balance(account) == 50
    assert account_billing_summary(account=account).used_this_month == 0


def test_only_charges_are_refunded(account: Account) -> None:
    grant = CreditLedgerEntry.objects.for_account(account).get()
    with pytest.raises(ValueError, match="only charges"):
        credits_refund(charge=grant)


def test_unlimited_plans_are_not_debited_but_usage_counts(account: Account) -> None:
    subscription_set_plan(account=account, plan=plan_get(code="max"))
    before = balance(account)
    for i in range(3):
        credits_charge(account=account, cost=8, idempotency_key=f"max{i}")
    assert balance(account) == before
    assert account_billing_summary(account=account).used_this_month == 24


def test_the_ledger_always_sums_to_the_balance(account: Account) -> None:
    charges = [credits_charge(account=account, cost=3, idempotency_key=f"c{i}") for i in range(5)]
    credits_refund(charge=charges[1])
    total = CreditLedgerEntry.objects.for_account(account).aggregate(t=Sum("amount"))["t"]
    assert total == balance(account) == 50 - 12
    assert credits_drift() == []


def test_reconcile_reports_drift(account: Account, capsys: pytest.CaptureFixture) -> None:
    call_command("reconcile_credits")
    assert "0 account(s) with drift" in capsys.readouterr().out
    Account.objects.filter(pk=account.pk).update(credit_balance=49)  # corrupt it behind our back
    with pytest.raises(CommandError):
        call_command("reconcile_credits")
    assert f"account {account.pk}: balance 49, ledger 50, drift -1" in capsys.readouterr().out


def test_idempotency_keys_are_per_account(account: Account, make_user) -> None:
    from accounts.services import user_personal_account_ensure

    other = user_personal_account_ensure(user=make_user())
    credits_charge(account=account, cost=5, idempotency_key="task_same")
    credits_charge(account=other, cost=5, idempotency_key="task_same")
    assert balance(account) == balance(other) == 45


def test_upload_limits_follow_the_plan(account: Account) -> None:
    from billing.selectors import account_upload_limit_bytes

    assert account_upload_limit_bytes(account=account) == 5 * 1024 * 1024
    subscription_set_plan(account=account, plan=plan_get(code="max"))
    assert account_upload_limit_bytes(account=account) == 20 * 1024 * 1024
