"""Celery's wiring (config/celery.py, config/broker.py): what each publish reuses."""

import threading

import pytest
from celery.backends.base import DisabledBackend
from kombu import Queue

from config.celery import app
from tests.conftest import require_service


def test_with_results_off_every_thread_shares_one_backend() -> None:
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(app.backend)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert isinstance(app.backend, DisabledBackend)
    assert all(backend is app.backend for backend in seen)


@pytest.mark.redis
def test_the_redis_broker_publishes_through_one_client_per_channel() -> None:
    require_service("REDIS_URL", "the broker transport is Redis's")
    queue = Queue("nb-test-wiring", routing_key="nb-test-wiring")
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        assert type(channel).__module__ == "config.broker"
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
        producer = connection.Producer(channel)
        producer.publish({"n": 1}, routing_key=queue.name, declare=[queue])
        channel._disconnect_pools()  # as kombu does after a lost connection: a new pool
        with channel.conn_or_acquire() as third:
            assert third is not first and third.connection_pool is channel.pool
        producer.publish({"n": 2}, routing_key=queue.name, declare=[queue])
        bound = queue(channel)
        got = [bound.get(no_ack=True).payload for _ in range(2)]
        bound.delete()
    assert got == [{"n": 1}, {"n": 2}]
