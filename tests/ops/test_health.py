"""/healthz reports the database and the broker, 503 when one is down."""

import pytest
from django.test import Client

from config.celery import app as celery_app
from tests.conftest import require_service

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_url():
    """Point the Celery app at another broker for one test, then back."""
    original = celery_app.conf.broker_url

    def point_at(url: str) -> None:
        celery_app.conf.broker_url = url

    yield point_at
    celery_app.conf.broker_url = original


def test_healthy_when_database_and_broker_answer(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]
    assert response["Cache-Control"].startswith("max-age=0")


def test_unavailable_when_the_broker_is_down(client: Client, broker_url) -> None:
    broker_url("redis://127.0.0.1:1/0")  # nothing listens on port 1
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


def test_healthy_with_a_real_redis_broker(client: Client, broker_url) -> None:
    broker_url(require_service("REDIS_URL", "checks the Redis broker"))
    assert client.get("/healthz").status_code == 200
