"""Celery tasks of the api app."""

from celery import shared_task

from api.idempotency import idempotency_keys_purge


@shared_task(name="api.idempotency_purge")
def idempotency_purge() -> int:
    return idempotency_keys_purge()
