"""Starting Checkout and the Customer Portal: the real SDK calls the stub, the user is sent on."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Account
from billing.models import Subscription
from tests.stripe_stub import StripeStub

pytestmark = pytest.mark.django_db


def test_checkout_creates_a_subscription_session_for_the_plans_price_and_redirects(
    web: Client, account: Account, stripe_stub: StripeStub, settings
) -> None:
    response = web.post("/billing/checkout/pro")

    assert response.status_code == 303
    assert response["Location"].startswith("https://checkout.stripe.test/c/pay/cs_test_")
    [request] = stripe_stub.requests
    assert (request.method, request.path) == ("POST", "/v1/checkout/sessions")
    assert request.headers["Stripe-Version"] == settings.STRIPE_API_VERSION
    assert request.params["mode"] == "subscription"
    assert request.params["line_items[0][price]"] == "price_pro"
    assert request.params["client_reference_id"] == str(account.pk)
    assert request.params["metadata[account_id]"] == str(account.pk)
    assert request.params["subscription_data[metadata][account_id]"] == str(account.pk)
    assert request.params["customer_email"] == "alice@example.com"
    assert request.params["success_url"] == "http://testserver/billing?checkout=success"
    assert request.params["cancel_url"] == "http://testserver/pricing"


def test_checkout_reuses_the_accounts_stripe_customer(
    web: Client, account: Account, stripe_stub: StripeStub
) -> None:
    Subscription.objects.filter(account=account).update(stripe_customer_id="cus_known")

    web.post("/billing/checkout/basic")

    [request] = stripe_stub.requests
    assert request.params["customer"] == "cus_known"
    assert "customer_email" not in request.params


def test_checkout_is_refused_while_a_stripe_subscription_is_live(
    web: Client, account: Account, stripe_stub: StripeStub
) -> None:
    Subscription.objects.filter(account=account).update(
        source=Subscription.Source.STRIPE,
        stripe_customer_id="cus_known",
        stripe_subscription_id="sub_live",
    )

    response = web.post("/billing/checkout/max", follow=True)

    assert stripe_stub.requests == []
    assert b"change it in the portal" in response.content


def test_checkout_needs_a_signed_in_user(client: Client, stripe_stub: StripeStub) -> None:
    response = client.post("/billing/checkout/pro")

    assert response.status_code == 302
    assert "/login" in response["Location"]
    assert stripe_stub.requests == []


def test_a_stripe_failure_is_shown_to_the_user_not_raised(
    web: Client, stripe_stub: StripeStub, settings
) -> None:
    settings.STRIPE_SECRET_KEY = "sk_test_revoked"  # the stub answers 401, as Stripe would

    response = web.post("/billing/checkout/pro", follow=True)

    assert response.redirect_chain == [("/billing", 302)]
    assert b"Payments are temporarily unavailable" in response.content


def test_portal_redirects_to_a_portal_session_for_the_accounts_customer(
    web: Client, account: Account, stripe_stub: StripeStub
) -> None:
    Subscription.objects.filter(account=account).update(stripe_customer_id="cus_known")

    response = web.post("/billing/portal")

    assert response.status_code == 303
    assert response["Location"].startswith("https://billing.stripe.test/p/session/")
    [request] = stripe_stub.requests
    assert request.path == "/v1/billing_portal/sessions"
    assert request.params == {"customer": "cus_known", "return_url": "http://testserver/billing"}


def test_portal_without_a_stripe_customer_explains_instead_of_calling_stripe(
    web: Client, stripe_stub: StripeStub
) -> None:
    response = web.post("/billing/portal", follow=True)

    assert stripe_stub.requests == []
    assert b"no Stripe customer yet" in response.content


def test_pricing_offers_a_subscribe_button_per_paid_plan(
    web: Client, stripe_stub: StripeStub
) -> None:
    content = web.get("/pricing").content.decode()

    for code in ("basic", "pro", "max"):
        assert f'action="/billing/checkout/{code}"' in content
    assert 'action="/billing/checkout/free"' not in content
    assert "billing-not-configured" not in content


def test_without_a_stripe_key_the_plans_show_with_a_not_configured_note(
    web: Client, settings
) -> None:
    settings.STRIPE_SECRET_KEY = ""

    pricing = web.get("/pricing").content.decode()
    billing = web.get("/billing").content.decode()
    checkout = web.post("/billing/checkout/pro")

    assert "billing-not-configured" in pricing
    assert "/billing/checkout/" not in pricing
    assert "billing-not-configured" in billing
    assert checkout.status_code == 302
    assert checkout["Location"] == "/pricing"


def test_billing_page_needs_a_signed_in_user(client: Client) -> None:
    assert client.get("/billing").status_code == 302
