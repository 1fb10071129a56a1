"""Billing pages and the Stripe webhook."""

from django.urls import path

urlpatterns: list = []
