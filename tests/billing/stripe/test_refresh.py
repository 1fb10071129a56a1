"""The safety net: a renewal whose webhook never arrived is applied by re-reading Stripe."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from accounts.models import Account
from billing.models import CreditLedgerEntry, Subscription
from billing.services import credits_charge
from billing.stripe_sync import stripe_subscriptions_refresh_stale
from tests.billing.stripe.conftest import StripeWorld

pytestmark = pytest.mark.django_db


def test_the_stale_refresh_applies_a_missed_renewal_once(
    world: StripeWorld, deliver: Callable[..., int]
) -> None:
    world.subscribe("basic")
    deliver("checkout.session.completed", world.checkout_session())
    credits_charge(account=world.account, cost=450, idempotency_key="task:1")
    first_period_end = datetime.fromtimestamp(world.period_end, tz=UTC)

    world.next_period()
    world.subscribe("basic", invoice_id="in_missed")  # paid, but no webhook reached us
    later = first_period_end + timedelta(days=2)

    assert stripe_subscriptions_refresh_stale(now=later) == 1
    assert stripe_subscriptions_refresh_stale(now=later) == 0  # caught up: no longer stale

    assert Account.objects.get(pk=world.account.pk).credit_balance == 500
    subscription = Subscription.objects.get(account=world.account)
    assert subscription.current_period_start == world.period_start_dt()
    renewal = CreditLedgerEntry.objects.for_account(world.account).filter(kind="renewal").first()
    assert renewal.reference == "in_missed"


def test_the_stale_refresh_leaves_current_subscriptions_alone(
    world: StripeWorld, deliver: Callable[..., int]
) -> None:
    world.subscribe("pro")
    deliver("checkout.session.completed", world.checkout_session())
    requests_before = len(world.stub.requests)

    within_grace = datetime.fromtimestamp(world.period_end, tz=UTC) + timedelta(hours=12)
    assert stripe_subscriptions_refresh_stale(now=within_grace) == 0
    assert len(world.stub.requests) == requests_before
