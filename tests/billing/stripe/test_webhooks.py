"""The Stripe webhook: only genuine fresh events act, once each, converging on Stripe's state."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Account
from billing.models import CreditLedgerEntry, StripeEvent, Subscription
from billing.services import credits_charge
from tests.billing.stripe.conftest import WEBHOOK_SECRET, StripeWorld
from tests.stripe_stub import event_payload, sign

pytestmark = pytest.mark.django_db

Deliver = Callable[..., int]


def _subscription(account: Account) -> Subscription:
    return Subscription.objects.select_related("plan").get(account=account)


def _balance(account: Account) -> int:
    return Account.objects.get(pk=account.pk).credit_balance


def _renewals(account: Account) -> list[CreditLedgerEntry]:
    return list(
        CreditLedgerEntry.objects.for_account(account).filter(kind=CreditLedgerEntry.Kind.RENEWAL)
    )


def _post_signed(client: Client, payload: bytes, signature: str) -> int:
    return client.post(
        "/billing/stripe/webhook",
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature,
    ).status_code


def test_checkout_completed_puts_the_account_on_the_plan_with_its_allowance(
    world: StripeWorld, deliver: Deliver
) -> None:
    world.subscribe("pro")

    assert deliver("checkout.session.completed", world.checkout_session()) == 200

    subscription = _subscription(world.account)
    assert subscription.plan.code == "pro"
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.source == Subscription.Source.STRIPE
    assert subscription.stripe_customer_id == world.customer_id
    assert subscription.stripe_subscription_id == world.subscription_id
    assert subscription.current_period_start == world.period_start_dt()
    assert _balance(world.account) == 2000
    [renewal] = _renewals(world.account)
    assert renewal.reference == world.invoice()["id"]


def test_a_forged_signature_is_rejected_and_changes_nothing(
    world: StripeWorld, client: Client, account: Account
) -> None:
    world.subscribe("max")
    payload = event_payload(event_type="checkout.session.completed", obj=world.checkout_session())

    status = _post_signed(client, payload, sign(payload, secret="whsec_attacker"))

    assert status == 400
    assert _subscription(account).plan.code == "free"
    assert _balance(account) == 50
    assert not StripeEvent.objects.exists()
    assert world.stub.requests == []


def test_a_missing_signature_is_rejected(world: StripeWorld, client: Client) -> None:
    payload = event_payload(event_type="invoice.paid", obj=world.subscribe("pro"))

    assert _post_signed(client, payload, "") == 400
    assert not StripeEvent.objects.exists()


def test_a_timestamp_outside_the_tolerance_is_rejected(
    world: StripeWorld, client: Client, account: Account, settings
) -> None:
    world.subscribe("pro")
    payload = event_payload(event_type="checkout.session.completed", obj=world.checkout_session())
    too_old = int(time.time()) - settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS - 5

    status = _post_signed(client, payload, sign(payload, secret=WEBHOOK_SECRET, timestamp=too_old))

    assert status == 400
    assert _subscription(account).plan.code == "free"
    assert not StripeEvent.objects.exists()


def test_a_replayed_event_is_a_no_op(world: StripeWorld, deliver: Deliver) -> None:
    world.subscribe("basic")
    session = world.checkout_session()

    assert deliver("checkout.session.completed", session, event_id="evt_once") == 200
    requests_after_first = len(world.stub.requests)
    assert deliver("checkout.session.completed", session, event_id="evt_once") == 200

    assert len(_renewals(world.account)) == 1
    assert StripeEvent.objects.filter(event_id="evt_once").count() == 1
    # The replay is recognised before Stripe is asked anything.
    assert len(world.stub.requests) == requests_after_first


def test_event_types_outside_the_allowlist_are_acknowledged_and_ignored(
    world: StripeWorld, deliver: Deliver
) -> None:
    assert deliver("customer.created", {"id": world.customer_id, "object": "customer"}) == 200

    assert not StripeEvent.objects.exists()
    assert world.stub.requests == []


def test_subscription_updated_before_checkout_completed_still_ends_on_the_right_plan(
    world: StripeWorld, deliver: Deliver
) -> None:
    # The user bought Basic and upgraded to Pro at once; Stripe delivers the events out of order.
    created_as_basic = world.subscribe("basic")
    updated_to_pro = world.subscribe("pro")

    assert deliver("customer.subscription.updated", updated_to_pro) == 200
    assert deliver("checkout.session.completed", world.checkout_session()) == 200
    assert deliver("customer.subscription.created", created_as_basic) == 200

    subscription = _subscription(world.account)
    assert subscription.plan.code == "pro"
    assert subscription.stripe_subscription_id == world.subscription_id
    assert len(_renewals(world.account)) == 1


def test_invoice_paid_renews_the_balance_to_the_allowance_once(
    world: StripeWorld, deliver: Deliver
) -> None:
    world.subscribe("basic")
    deliver("checkout.session.completed", world.checkout_session())
    credits_charge(account=world.account, cost=120, idempotency_key="task:1")
    assert _balance(world.account) == 380

    world.next_period()
    world.subscribe("basic", invoice_id="in_second")
    invoice = world.invoice()
    assert deliver("invoice.paid", invoice) == 200
    # Stripe may send the same invoice's event again under a new event id.
    assert deliver("invoice.paid", invoice) == 200

    assert _balance(world.account) == 500
    renewals = _renewals(world.account)
    assert [r.reference for r in renewals] == ["in_second", f"in_{world.period_start - 30 * 86400}"]
    assert _subscription(world.account).current_period_start == world.period_start_dt()


def test_a_failed_payment_shows_past_due_on_the_billing_page_and_the_api(
    world: StripeWorld, deliver: Deliver, web: Client, authed_client: APIClient
) -> None:
    world.subscribe("pro")
    deliver("checkout.session.completed", world.checkout_session())
    world.next_period()
    world.subscribe("pro", status="past_due", invoice_status="open", invoice_id="in_failed")

    assert deliver("invoice.payment_failed", world.invoice()) == 200

    subscription = _subscription(world.account)
    assert subscription.status == Subscription.Status.PAST_DUE
    assert subscription.plan.code == "pro"
    assert len(_renewals(world.account)) == 1  # an unpaid period grants nothing
    page = web.get("/billing").content.decode()
    assert 'id="past-due"' in page
    assert authed_client.get("/v1/account").json()["subscription"]["status"] == "past_due"


def test_a_cancellation_keeps_the_plan_until_stripe_ends_the_subscription(
    world: StripeWorld, deliver: Deliver, web: Client
) -> None:
    world.subscribe("pro")
    deliver("checkout.session.completed", world.checkout_session())
    credits_charge(account=world.account, cost=300, idempotency_key="task:1")

    cancelling = world.subscribe("pro", cancel_at_period_end=True)
    assert deliver("customer.subscription.updated", cancelling) == 200

    subscription = _subscription(world.account)
    assert (subscription.plan.code, subscription.cancel_at_period_end) == ("pro", True)
    assert "Cancels on" in web.get("/billing").content.decode()

    ended = world.subscribe("pro", status="canceled", cancel_at_period_end=True)
    assert deliver("customer.subscription.deleted", ended) == 200

    subscription = _subscription(world.account)
    assert subscription.plan.code == "free"
    assert subscription.source == Subscription.Source.FREE
    assert subscription.stripe_subscription_id == ""
    assert subscription.stripe_customer_id == world.customer_id  # reused by the next Checkout
    assert _balance(world.account) == 1700  # what was left; the free plan grants nothing new
    assert len(_renewals(world.account)) == 1


def test_a_late_event_of_an_ended_subscription_leaves_the_new_one_alone(
    world: StripeWorld, deliver: Deliver
) -> None:
    world.subscribe("basic", status="canceled")
    old = world.subscription() | {"id": "sub_old"}
    world.stub.subscriptions["sub_old"] = old
    world.subscribe("max")
    deliver("checkout.session.completed", world.checkout_session())

    assert deliver("customer.subscription.deleted", old) == 200

    subscription = _subscription(world.account)
    assert (subscription.plan.code, subscription.stripe_subscription_id) == (
        "max",
        world.subscription_id,
    )


def test_when_stripe_cannot_be_read_the_event_is_left_for_stripes_retry(
    world: StripeWorld, deliver: Deliver
) -> None:
    world.stub.subscriptions.clear()  # Stripe answers 404 for the subscription

    assert deliver("customer.subscription.updated", {"id": "sub_gone", "customer": "cus_x"}) == 503
    assert not StripeEvent.objects.exists()
