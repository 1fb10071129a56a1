"""Stripe tests: the real SDK over real HTTP to a local stub; webhooks signed as Stripe signs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from django.test import Client

from accounts.models import Account, User
from tests.stripe_stub import StripeStub, event_payload, invoice_object, sign, subscription_object

WEBHOOK_SECRET = "whsec_test_secret"
PRICES = {"basic": "price_basic", "pro": "price_pro", "max": "price_max"}
DAY = 86_400


@pytest.fixture
def stripe_stub(settings) -> Iterator[StripeStub]:
    stub = StripeStub().start()
    settings.STRIPE_SECRET_KEY = "sk_test_stub"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = stub.base_url
    settings.STRIPE_PRICE_IDS = PRICES
    yield stub
    stub.stop()


@pytest.fixture
def web(user: User, account: Account) -> Client:
    """A browser session signed in as the account's owner."""
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def deliver(client: Client) -> Callable[..., int]:
    """POST an event to the webhook signed with the test secret; returns the HTTP status."""

    def send(event_type: str, obj: dict, *, event_id: str | None = None) -> int:
        payload = event_payload(event_type=event_type, obj=obj, event_id=event_id)
        response = client.post(
            "/billing/stripe/webhook",
            data=payload,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=sign(payload, secret=WEBHOOK_SECRET),
        )
        return response.status_code

    return send


class StripeWorld:
    """Scenario helpers: what Stripe holds for one account's subscription, and its events."""

    def __init__(self, stub: StripeStub, account: Account) -> None:
        self.stub = stub
        self.account = account
        self.customer_id = "cus_stub_alice"
        self.subscription_id = "sub_stub_alice"
        self.period_start = int(time.time()) - 60
        self.period_end = self.period_start + 30 * DAY

    def subscribe(
        self,
        plan: str,
        *,
        status: str = "active",
        invoice_status: str = "paid",
        cancel_at_period_end: bool = False,
        invoice_id: str | None = None,
    ) -> dict:
        """Set Stripe's current state: the subscription on `plan` and its latest invoice."""
        invoice_id = invoice_id or f"in_{self.period_start}"
        self.stub.invoices[invoice_id] = invoice_object(
            invoice_id=invoice_id,
            customer_id=self.customer_id,
            subscription_id=self.subscription_id,
            status=invoice_status,
            period_start=self.period_start,
            period_end=self.period_end,
        )
        self.stub.subscriptions[self.subscription_id] = subscription_object(
            subscription_id=self.subscription_id,
            customer_id=self.customer_id,
            price_id=PRICES[plan],
            status=status,
            period_start=self.period_start,
            period_end=self.period_end,
            account_id=self.account.pk,
            latest_invoice=invoice_id,
            cancel_at_period_end=cancel_at_period_end,
        )
        return self.subscription()

    def next_period(self) -> None:
        self.period_start = self.period_end
        self.period_end = self.period_start + 30 * DAY

    def subscription(self) -> dict:
        return self.stub.subscriptions[self.subscription_id]

    def invoice(self) -> dict:
        return self.stub.invoices[self.subscription()["latest_invoice"]]

    def checkout_session(self) -> dict:
        return {
            "id": "cs_test_stub_alice",
            "object": "checkout.session",
            "mode": "subscription",
            "status": "complete",
            "payment_status": "paid",
            "client_reference_id": str(self.account.pk),
            "customer": self.customer_id,
            "metadata": {"account_id": str(self.account.pk)},
            "subscription": self.subscription_id,
        }

    def period_start_dt(self) -> datetime:
        return datetime.fromtimestamp(self.period_start, tz=UTC)


@pytest.fixture
def world(stripe_stub: StripeStub, account: Account) -> StripeWorld:
    return StripeWorld(stripe_stub, account)
