"""The only module that talks to Stripe's API: Checkout, the Customer Portal, subscription reads."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import stripe
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from core.errors import TemporaryUnavailable

if TYPE_CHECKING:
    from stripe.params.checkout import SessionCreateParams

logger = logging.getLogger(__name__)

# (connect, read) seconds: a web request waits on Stripe at most this long; the SDK's 80 s default
# would tie up a worker for the length of a Stripe incident.
HTTP_TIMEOUT = (5, 20)
# The SDK retries idempotently (it sends an Idempotency-Key on POSTs), so two retries are safe.
MAX_NETWORK_RETRIES = 2


class BillingNotConfigured(TemporaryUnavailable):
    default_message = _("Billing is not configured on this server.")


def stripe_is_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def _client() -> stripe.StripeClient:
    # Built per call from settings, never the SDK's module globals: tests and settings overrides
    # point it elsewhere, and no state leaks between threads.
    if not stripe_is_configured():
        raise BillingNotConfigured
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        stripe_version=settings.STRIPE_API_VERSION,
        max_network_retries=MAX_NETWORK_RETRIES,
        http_client=stripe.RequestsClient(timeout=HTTP_TIMEOUT),
    )


def _unavailable(error: stripe.StripeError) -> TemporaryUnavailable:
    logger.warning("Stripe call failed: %s (request %s)", error, error.request_id)
    return TemporaryUnavailable(
        message=_("Payments are temporarily unavailable. Please try again in a few minutes.")
    )


def checkout_session_create(
    *,
    price_id: str,
    account_id: int,
    customer_id: str,
    customer_email: str,
    success_url: str,
    cancel_url: str,
) -> str:
    """Start a subscription Checkout for one price; returns the URL to send the user to."""
    params: SessionCreateParams = {
        "mode": "subscription",
        "line_items": [{"price": price_id, "quantity": 1}],
        "client_reference_id": str(account_id),
        "metadata": {"account_id": str(account_id)},
        # Copied onto the subscription, so every later subscription or invoice event names its
        # account even when it arrives before checkout.session.completed.
        "subscription_data": {"metadata": {"account_id": str(account_id)}},
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if customer_id:
        params["customer"] = customer_id
    elif customer_email:
        params["customer_email"] = customer_email
    try:
        session = _client().v1.checkout.sessions.create(params=params)
    except stripe.StripeError as error:
        raise _unavailable(error) from error
    # Only a completed or expired session has no URL; a new hosted one always has it.
    return session.url  # type: ignore[return-value]


def portal_session_create(*, customer_id: str, return_url: str) -> str:
    """A Customer Portal session (plan changes, payment methods, cancellation); returns its URL."""
    try:
        session = _client().v1.billing_portal.sessions.create(
            params={"customer": customer_id, "return_url": return_url}
        )
    except stripe.StripeError as error:
        raise _unavailable(error) from error
    return session.url


def subscription_retrieve(*, subscription_id: str) -> dict:
    """Stripe's current view of a subscription, latest invoice expanded, as plain data."""
    try:
        subscription = _client().v1.subscriptions.retrieve(
            subscription_id, params={"expand": ["latest_invoice"]}
        )
    except stripe.StripeError as error:
        raise _unavailable(error) from error
    return subscription.to_dict()
