"""Stripe-driven billing state: checkout and portal starts, webhook events, the stale-state sweep.

Every event is handled the same way: find the subscription it concerns, re-read that subscription
from Stripe, and make our row match it. Events can then arrive late, twice or in any order and the
account still ends in Stripe's current state; the event itself is only a hint of what to re-read.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.models import Account
from billing import stripe_gateway
from billing.models import Plan, StripeEvent, Subscription
from billing.selectors import FREE_PLAN_CODE, billing_page_get, plan_get, plan_price_id
from billing.services import account_billing_open, subscription_start_period
from core.errors import InvalidRequest, TemporaryUnavailable

logger = logging.getLogger(__name__)

HANDLED_EVENT_TYPES = frozenset(
    {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.paid",
        "invoice.payment_failed",
    }
)
# Stripe statuses after which the subscription never bills again.
ENDED_STATUSES = frozenset({"canceled", "incomplete_expired"})
# Statuses in which the current period's allowance is owed, once its invoice is paid.
ENTITLED_STATUSES = frozenset({"active", "trialing"})
# Stripe has more statuses than we show; the extra ones map to the nearest of ours.
STATUS_MAP = {"incomplete_expired": "canceled", "paused": "unpaid"}
# The sweep re-reads subscriptions whose period ended this long ago without a renewal reaching us.
STALE_AFTER = timedelta(days=1)


class WebhookRejected(Exception):
    """The payload is not a genuine, fresh Stripe event (bad signature, stale or malformed)."""


# --- Starting Checkout and the portal -----------------------------------------------------------


def checkout_session_start(
    *, account: Account, plan: Plan, customer_email: str, success_url: str, cancel_url: str
) -> str:
    """The Stripe Checkout URL that subscribes `account` to `plan`."""
    price_id = plan_price_id(plan=plan)
    if not price_id:
        raise InvalidRequest(f"plan {plan.code!r} cannot be bought online")
    page = billing_page_get(account=account)
    if page.has_live_stripe_subscription:
        # A second Checkout would start a second, parallel subscription billed on top of the first;
        # plan changes of a live subscription go through the portal.
        raise InvalidRequest("this account already has a subscription; change it in the portal")
    return stripe_gateway.checkout_session_create(
        price_id=price_id,
        account_id=account.pk,
        customer_id=page.subscription.stripe_customer_id,
        customer_email=customer_email,
        success_url=success_url,
        cancel_url=cancel_url,
    )


def portal_session_start(*, account: Account, return_url: str) -> str:
    customer_id = billing_page_get(account=account).subscription.stripe_customer_id
    if not customer_id:
        raise InvalidRequest("this account has no Stripe customer yet")
    return stripe_gateway.portal_session_create(customer_id=customer_id, return_url=return_url)


# --- Webhook events -----------------------------------------------------------------------------


def stripe_event_process(*, payload: bytes, signature: str) -> None:
    """Verify and act on one webhook delivery, at most once per event id.

    Raises WebhookRejected for anything not signed by Stripe within the tolerance or not shaped
    like an event (nothing is recorded then), and TemporaryUnavailable when Stripe cannot be
    re-read (the view answers 5xx, Stripe retries).
    """
    event = _event_verified(payload=payload, signature=signature)
    if event.type not in HANDLED_EVENT_TYPES:
        return
    if StripeEvent.objects.filter(event_id=event.id).exists():
        # Cheap early exit for replays; the unique row below is what actually guarantees once.
        return
    hints = _event_hints(event.object, event.type)
    # Read Stripe before opening the transaction: no row lock is ever held across an HTTP call.
    remote = (
        stripe_gateway.subscription_retrieve(subscription_id=hints.subscription_id)
        if hints.subscription_id
        else None
    )
    with transaction.atomic():
        try:
            with transaction.atomic():
                StripeEvent.objects.create(event_id=event.id, type=event.type)
        except IntegrityError:
            return  # A concurrent delivery of the same event got here first.
        if remote is None:
            logger.info("Stripe event %s (%s) names no subscription", event.id, event.type)
            return
        account = _account_find(remote=remote, hints=hints)
        if account is None:
            logger.warning(
                "Stripe event %s: no account for subscription %s", event.id, remote["id"]
            )
            return
        _subscription_apply(account=account, remote=remote)


@dataclass(frozen=True)
class _Event:
    id: str
    type: str
    object: dict


def _event_verified(*, payload: bytes, signature: str) -> _Event:
    """The event a genuine, fresh delivery carries; WebhookRejected for anything else."""
    tolerance = settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS
    try:
        # Checks the signature, and refuses timestamps older than the tolerance.
        stripe.WebhookSignature.verify_header(
            payload, signature, settings.STRIPE_WEBHOOK_SECRET, tolerance
        )
    except (stripe.SignatureVerificationError, ValueError) as error:
        raise WebhookRejected(str(error)) from error
    _signature_not_from_the_future(signature=signature, tolerance=tolerance, now=time.time())
    try:
        event = json.loads(payload)
    except (ValueError, RecursionError) as error:
        raise WebhookRejected("the payload is not JSON") from error
    # Signed is not well-formed: a hand-made or replayed test payload may lack any of these.
    data = event.get("data") if isinstance(event, dict) else None
    obj = data.get("object") if isinstance(data, dict) else None
    if not (
        isinstance(obj, dict)
        and isinstance(event_id := event.get("id"), str)
        and event_id
        and isinstance(event_type := event.get("type"), str)
    ):
        raise WebhookRejected("the payload is not an event with an id, a type and data.object")
    return _Event(id=event_id, type=event_type, object=obj)


def _signature_not_from_the_future(*, signature: str, tolerance: int, now: float) -> None:
    """The SDK refuses only timestamps older than the tolerance; a signature made for a moment
    ahead of now (a replay prepared in advance, a signer's clock far off) is refused here."""
    # The timestamp the SDK verified: the first `t=` of the header, parsed as the SDK parses it.
    items = [item.split("=", 2) for item in signature.split(",")]
    timestamp = int(next(item[1] for item in items if item[0] == "t"))
    if tolerance and timestamp > now + tolerance:
        raise WebhookRejected(f"Timestamp outside the tolerance zone ({timestamp})")


@dataclass(frozen=True)
class _Hints:
    subscription_id: str
    customer_id: str
    account_id: str


def _event_hints(obj: dict, event_type: str) -> _Hints:
    """Which subscription, customer and account an event's object points at ("" when it does not
    say, or says it in a shape Stripe never sends)."""
    metadata = _dict(obj.get("metadata"))
    if event_type == "checkout.session.completed":
        if obj.get("mode") != "subscription":
            return _Hints("", "", "")
        return _Hints(
            subscription_id=_id(obj.get("subscription")),
            customer_id=_id(obj.get("customer")),
            account_id=_str(obj.get("client_reference_id")) or _str(metadata.get("account_id")),
        )
    if event_type.startswith("customer.subscription."):
        return _Hints(
            subscription_id=_id(obj),
            customer_id=_id(obj.get("customer")),
            account_id=_str(metadata.get("account_id")),
        )
    # Invoices: since the 2025 "basil" API versions the subscription sits under `parent`.
    details = _dict(_dict(obj.get("parent")).get("subscription_details"))
    return _Hints(
        subscription_id=_id(details.get("subscription")),
        customer_id=_id(obj.get("customer")),
        account_id=_str(_dict(details.get("metadata")).get("account_id")),
    )


def _id(value: object) -> str:
    """An expandable field's id, whether Stripe sent the id or the expanded object."""
    if isinstance(value, dict):
        return _str(value.get("id"))
    return _str(value)


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _account_find(*, remote: dict, hints: _Hints) -> Account | None:
    # Our own metadata first (set at Checkout), then the ids Stripe gave us earlier.
    for account_id in ((remote.get("metadata") or {}).get("account_id", ""), hints.account_id):
        if account_id and account_id.isdigit():
            account = Account.objects.filter(pk=int(account_id)).first()
            if account is not None:
                return account
    by_ids = Subscription.objects.select_related("account")
    row = by_ids.filter(stripe_subscription_id=remote["id"]).first()
    customer_id = _id(remote.get("customer")) or hints.customer_id
    if row is None and customer_id:
        row = by_ids.filter(stripe_customer_id=customer_id).first()
    return row.account if row is not None else None


# --- Applying Stripe's state --------------------------------------------------------------------


def _subscription_apply(*, account: Account, remote: dict) -> Subscription:
    """Make the account's subscription match Stripe's `remote` one; runs in a transaction."""
    account_billing_open(account=account)  # Ensures the row exists; idempotent.
    subscription = (
        Subscription.objects.select_for_update().select_related("plan").get(account=account)
    )
    status = remote["status"]
    is_current = subscription.stripe_subscription_id in ("", remote["id"])
    if status in ENDED_STATUSES:
        if is_current:
            _subscription_downgrade_to_free(subscription=subscription, remote=remote)
        # An old, ended subscription must never touch the one the account has now.
        return subscription

    subscription.stripe_subscription_id = remote["id"]
    subscription.stripe_customer_id = _id(remote.get("customer")) or subscription.stripe_customer_id
    subscription.status = STATUS_MAP.get(status, status)
    item = _subscription_item(remote=remote)
    plan = _plan_for_price(price_id=_id(item.get("price")))
    if status == "incomplete":
        # The first payment has not gone through: nothing is bought yet, the plan stays.
        subscription.save()
        return subscription
    subscription.source = Subscription.Source.STRIPE
    if plan is not None:
        subscription.plan = plan
    period_start = _timestamp(item.get("current_period_start"))
    period_end = _timestamp(item.get("current_period_end"))
    subscription.current_period_start = period_start
    subscription.current_period_end = period_end
    cancel_at = _timestamp(remote.get("cancel_at"))
    # The portal may cancel with `cancel_at` at the period end rather than the boolean.
    subscription.cancel_at_period_end = bool(remote.get("cancel_at_period_end")) or bool(
        cancel_at and period_end and cancel_at <= period_end
    )
    subscription.save()

    invoice = remote.get("latest_invoice")
    if (
        status in ENTITLED_STATUSES
        and isinstance(invoice, dict)
        and invoice.get("status") == "paid"
        and period_start is not None
    ):
        # Idempotent by period start: webhook, replay and sweep grant a period at most once.
        subscription_start_period(
            subscription=subscription,
            period_start=period_start,
            period_end=period_end,
            reference=invoice["id"],
            note=f"{subscription.plan.name} period paid by invoice {invoice['id']}",
        )
    return subscription


def _subscription_downgrade_to_free(*, subscription: Subscription, remote: dict) -> None:
    # Credits already granted stay until spent; the free plan brings no new allowance.
    subscription.plan = plan_get(code=FREE_PLAN_CODE)
    subscription.source = Subscription.Source.FREE
    subscription.status = Subscription.Status.ACTIVE
    subscription.cancel_at_period_end = False
    subscription.current_period_start = None
    subscription.current_period_end = None
    # Forget the ended subscription so a new Checkout can start; keep the customer for reuse.
    subscription.stripe_subscription_id = ""
    subscription.stripe_customer_id = _id(remote.get("customer")) or subscription.stripe_customer_id
    subscription.save()


def _subscription_item(*, remote: dict) -> dict:
    items = (remote.get("items") or {}).get("data") or []
    return items[0] if items else {}


def _plan_for_price(*, price_id: str) -> Plan | None:
    for code, configured in settings.STRIPE_PRICE_IDS.items():
        if configured and configured == price_id:
            return plan_get(code=code)
    logger.error("Stripe price %r is not one of STRIPE_PRICE_IDS; plan left unchanged", price_id)
    return None


def _timestamp(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value else None


# --- The safety net -----------------------------------------------------------------------------


def stripe_subscriptions_refresh_stale(*, now: datetime) -> int:
    """Re-read from Stripe every Stripe subscription whose period ended over a day ago.

    A renewal whose webhook never arrived is applied here (run by the beat job). Returns how many
    subscriptions were re-read; one failing read does not stop the others.
    """
    stale = Subscription.objects.filter(
        source=Subscription.Source.STRIPE, current_period_end__lt=now - STALE_AFTER
    ).exclude(stripe_subscription_id="")
    refreshed = 0
    for account_id, subscription_id in stale.values_list("account_id", "stripe_subscription_id"):
        try:
            remote = stripe_gateway.subscription_retrieve(subscription_id=subscription_id)
        except TemporaryUnavailable:
            logger.warning("Stale refresh: could not re-read subscription %s", subscription_id)
            continue
        with transaction.atomic():
            _subscription_apply(account=Account.objects.get(pk=account_id), remote=remote)
        refreshed += 1
    return refreshed
