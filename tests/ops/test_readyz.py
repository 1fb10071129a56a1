"""/readyz: 200 when the database, the broker and the storage answer, else 503 naming what did not,
each check bounded by READYZ_TIMEOUT_SECONDS."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.test import Client

from config.celery import app as celery_app

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_url() -> Iterator[Callable[[str], None]]:
    """Point the Celery app at another broker for one test, then back."""
    original = celery_app.conf.broker_url

    def point_at(url: str) -> None:
        celery_app.conf.broker_url = url

    yield point_at
    celery_app.conf.broker_url = original


def test_ready_when_everything_answers(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["failed"] == []
    assert set(body["checks"]) == {"database", "broker", "storage"}
    assert all(check["ok"] for check in body["checks"].values())
    assert response["Cache-Control"].startswith("max-age=0")


def test_not_ready_names_the_broker_when_it_is_down(
    client: Client, broker_url: Callable[[str], None]
) -> None:
    broker_url("redis://127.0.0.1:1/0")  # nothing listens on port 1
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["failed"] == ["broker"]
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"]["ok"] and body["checks"]["storage"]["ok"]
    assert response["Retry-After"] == "5"


def test_not_ready_names_the_storage_when_it_cannot_be_written(
    client: Client, settings, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("where the media folder should be")
    settings.MEDIA_ROOT = blocker / "media"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["storage"]


def test_a_check_that_hangs_fails_within_the_timeout(
    client: Client, settings, broker_url: Callable[[str], None], hanging_server: int
) -> None:
    settings.READYZ_TIMEOUT_SECONDS = 0.5
    broker_url(f"redis://127.0.0.1:{hanging_server}/0")  # accepts, never answers
    started = time.monotonic()
    response = client.get("/readyz")
    assert time.monotonic() - started < 1.5
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == {"ok": False, "error": "Timeout"}


def test_healthz_keeps_its_answer(client: Client) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and set(body["checks"]) == {"database", "broker"}
