"""Loaded into the benchmarks' worker (`celery worker --include bench.queue_tasks`; queueing.py,
bench/growth.py): the raw no-op task that is their baseline, on the same broker, queue and pool
as the real image tasks. Its only work is to say when it ran: one RPUSH of the time to a Redis
list of the bench's database, the least a bench can observe a task by (no result backend)."""

from __future__ import annotations

import time
from functools import cache

import redis
from celery import shared_task
from django.conf import settings

NOOP = "bench.noop"


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@shared_task(name=NOOP, ignore_result=True)
def bench_noop(key: str, enqueued_at: float) -> None:
    """Appends "<enqueued_at> <now>" to the list `key`: when this message was sent, and when it
    ran (both wall-clock times of the one machine)."""
    _redis().rpush(key, f"{enqueued_at} {time.time()}")
