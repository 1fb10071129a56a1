"""Reads of webhook endpoints and deliveries, always from the caller's account (the sweep's scan
of due deliveries aside)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from accounts.models import Account
from core.errors import NotFound
from webhooks.models import WebhookDelivery, WebhookEndpoint

DELIVERIES_SHOWN = 50


SWEEP_BATCH = 500


# A countdown message may fire a little before the due time the database holds.
DUE_GRACE = timedelta(seconds=2)


def webhook_endpoint_list(*, account: Account) -> list[WebhookEndpoint]:
    return list(WebhookEndpoint.objects.for_account(account).order_by("created_at", "pk"))


def webhook_endpoint_get(*, account: Account, public_id: str) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.for_account(account).filter(public_id=public_id).first()
    if endpoint is None:  # another tenant's endpoint is as absent as one that never existed
        raise NotFound(f"webhook endpoint {public_id!r} not found")
    return endpoint


def webhook_delivery_list(
    *, account: Account, endpoint: WebhookEndpoint | None = None, limit: int = DELIVERIES_SHOWN
) -> list[WebhookDelivery]:
    """The most recent deliveries, newest first: of one endpoint, or of the whole account."""
    deliveries = WebhookDelivery.objects.for_account(account).select_related("endpoint", "task")
    if endpoint is not None:
        deliveries = deliveries.filter(endpoint=endpoint)
    return list(deliveries.order_by("-created_at", "-pk")[:limit])


def webhook_delivery_get(*, account: Account, public_id: str) -> WebhookDelivery:
    delivery = (
        WebhookDelivery.objects.for_account(account)
        .select_related("endpoint", "task")
        .filter(public_id=public_id)
        .first()
    )
    if delivery is None:
        raise NotFound(f"webhook delivery {public_id!r} not found")
    return delivery


def webhook_deliveries_due(*, now: datetime | None = None, limit: int = SWEEP_BATCH) -> list[int]:
    """Ids of pending deliveries whose next attempt is due (none of them mid-attempt: a claimed
    attempt's lease keeps it in the future), oldest first. Every account's: run by beat."""
    now = now or timezone.now()
    return list(
        WebhookDelivery.unscoped_objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
