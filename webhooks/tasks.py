"""Celery tasks of webhooks: they take ids and call services."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from webhooks.services import (
    webhook_deliveries_purge,
    webhook_delivery_attempt,
    webhook_delivery_enqueue,
    webhooks_sweep,
)


@shared_task(name="webhooks.deliver", acks_late=True, ignore_result=True)
def webhook_deliver(delivery_id: int) -> str:
    """One attempt of one delivery; a failure queues the next attempt when it is due soon (later
    ones, and any message lost on the way, are queued by `webhooks_sweep`)."""
    outcome = webhook_delivery_attempt(delivery_id=delivery_id)
    if outcome.retry_in is not None and outcome.retry_in <= settings.WEBHOOK_COUNTDOWN_MAX_SECONDS:
        webhook_delivery_enqueue(delivery_id=delivery_id, countdown=outcome.retry_in)
    return outcome.status


@shared_task(name="webhooks.sweep", ignore_result=True)
def webhooks_sweep_due() -> int:
    return webhooks_sweep()


@shared_task(name="webhooks.purge", ignore_result=True)
def webhooks_purge() -> int:
    """Retention: the delivery log of tasks as old as their purged images."""
    return webhook_deliveries_purge()
