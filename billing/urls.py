"""Billing pages and the Stripe webhook (the billing page itself is /billing, in config.urls)."""

from django.urls import path

from billing import views

urlpatterns = [
    path("checkout/<slug:plan_code>", views.checkout, name="billing_checkout"),
    path("portal", views.portal, name="billing_portal"),
    path("ledger.csv", views.ledger_csv, name="billing_ledger_csv"),
    path("stripe/webhook", views.stripe_webhook, name="stripe_webhook"),
]
