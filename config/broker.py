"""The Redis broker transport: kombu's, with one publishing client per channel.

kombu's Redis channel builds a new `redis.Redis` for every message it publishes (and for each
of its other commands), most of it copying redis-py's table of response callbacks: about a
third of Celery's CPU per publish, which every task submit pays (bench/api.py). A client holds
no connection of its own (each command borrows one from the channel's pool), so one client per
channel serves them all; a new one is made when kombu replaces the pool (after a disconnect).
Selected by CELERY_BROKER_TRANSPORT when the broker is Redis (config/settings/base.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _shared_client: redis.Redis | None = None

    @contextmanager
    def conn_or_acquire(self, client: redis.Redis | None = None) -> Iterator[redis.Redis]:
        if client:
            yield client
            return
        pool = self.pool
        shared = self._shared_client
        if shared is None or shared.connection_pool is not pool:
            shared = self._shared_client = self._create_client()
        yield shared


class Transport(kombu_redis.Transport):
    Channel = Channel
