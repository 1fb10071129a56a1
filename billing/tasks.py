"""Celery tasks of billing: thin wrappers that call services."""

from celery import shared_task
from django.utils import timezone

from billing.services import subscriptions_renew_due
from billing.stripe_sync import stripe_subscriptions_refresh_stale


@shared_task(name="billing.renewals")
def billing_renewals() -> dict[str, int]:
    """Hourly: renew staff-granted plans; re-read Stripe subscriptions whose renewal never reached
    us (the safety net for missed webhooks). Idempotent, so overlapping runs are harmless."""
    now = timezone.now()
    return {
        "staff_periods_started": subscriptions_renew_due(now=now),
        "stripe_subscriptions_refreshed": stripe_subscriptions_refresh_stale(now=now),
    }
