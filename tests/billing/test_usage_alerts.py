"""Usage alerts: the account's owners and admins are emailed when 80% and when 100% of the
period's credits are used, once per period each, only for charges that committed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from accounts.models import Account, Membership, User
from billing.models import UsageAlert
from billing.selectors import plan_get, subscription_get
from billing.services import (
    credits_charge,
    credits_refund,
    credits_set_balance,
    subscription_set_plan,
)

pytestmark = pytest.mark.django_db

_keys = iter(range(1_000_000))


def charge(account: Account, cost: int, capture: Callable[..., object]) -> object:
    with capture(execute=True):
        return credits_charge(account=account, cost=cost, idempotency_key=f"k{next(_keys)}")


def test_80_and_100_percent_are_each_emailed_once_per_period(
    account: Account, make_user: Callable[..., User], django_capture_on_commit_callbacks
) -> None:
    admin = make_user(email="admin@example.com")
    Membership.objects.create(account=account, user=admin, role=Membership.Role.ADMIN)
    Membership.objects.create(account=account, user=make_user(email="m@example.com"))
    capture = django_capture_on_commit_callbacks
    charge(account, 39, capture)  # 78% of the Free plan's 50
    assert mail.outbox == []
    first = charge(account, 1, capture)  # 80%
    (alert,) = mail.outbox
    assert sorted(alert.to) == ["admin@example.com", "alice@example.com"]  # not the member
    assert "80%" in alert.subject and "10 credits are left" in alert.body
    assert "积分" in alert.body  # the same alert in Chinese
    with capture(execute=True):
        credits_refund(charge=first)  # back under 80%...
    charge(account, 1, capture)  # ...and over it again: not a second email this period
    assert len(mail.outbox) == 1
    charge(account, 10, capture)  # 100%
    assert len(mail.outbox) == 2 and "100%" in mail.outbox[1].subject
    assert UsageAlert.objects.filter(account=account).count() == 2

    # A new period (the renewal resets the balance): the same thresholds alert again.
    subscription = subscription_get(account=account)
    subscription.last_renewed_at = timezone.now()
    subscription.save(update_fields=["last_renewed_at"])
    credits_set_balance(account=account, balance=50, kind="renewal", idempotency_key="renewal-2")
    charge(account, 40, capture)
    assert len(mail.outbox) == 3 and "80%" in mail.outbox[2].subject


def test_a_charge_rolled_back_alerts_nobody(
    account: Account, django_capture_on_commit_callbacks
) -> None:
    capture = django_capture_on_commit_callbacks(execute=True)
    with capture, pytest.raises(RuntimeError), transaction.atomic():
        credits_charge(account=account, cost=45, idempotency_key="rolled-back")
        raise RuntimeError("the task could not be created")  # the charge rolls back too
    assert mail.outbox == [] and not UsageAlert.objects.exists()


def test_an_unlimited_plan_is_never_alerted(
    account: Account, django_capture_on_commit_callbacks
) -> None:
    subscription_set_plan(account=account, plan=plan_get(code="max"))
    charge(account, 45, django_capture_on_commit_callbacks)
    assert mail.outbox == []
