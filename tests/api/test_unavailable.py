"""TEMPORARY_UNAVAILABLE within 5 s when a service hangs rather than refuses; nothing charged."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.models import Account
from billing.selectors import account_billing_summary
from tests.conftest import process_env

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.mark.django_db
def test_a_hanging_redis_answers_503_within_5_s_and_charges_nothing(
    authed_client: APIClient, account: Account, hanging_server: int
) -> None:
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{hanging_server}/0"):
        started = time.monotonic()
        response = authed_client.post(
            "/v1/text-to-image", {"prompt": "panda"}, format="json", HTTP_PREFER="respond-async"
        )
        elapsed = time.monotonic() - started
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "TEMPORARY_UNAVAILABLE"
    assert elapsed < 5
    assert account_billing_summary(account=account).balance == 50


def test_a_hanging_broker_fails_the_publish_within_5_s(hanging_server: int, tmp_path: Path) -> None:
    """The publish itself (imaging.services turns its failure into a 503 and a refund)."""
    script = (
        "import time, django; django.setup()\n"
        "from imaging.tasks import task_run\n"
        "started = time.monotonic()\n"
        "try:\n"
        "    task_run.apply_async(args=[0], queue='cpu')\n"
        "except Exception as error:\n"
        "    print(type(error).__name__)\n"
        "print(round(time.monotonic() - started, 2))\n"
    )
    env = process_env(
        CELERY_BROKER_URL=f"redis://127.0.0.1:{hanging_server}/0",
        NANOBANANA_VAR_DIR=str(tmp_path),
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    error, elapsed = result.stdout.split()[-2:]
    assert error == "OperationalError"
    assert float(elapsed) < 5


def test_a_hanging_database_answers_503_within_5_s(hanging_server: int, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = process_env(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{hanging_server}/nanobanana",
        NANOBANANA_VAR_DIR=str(tmp_path),
    )
    server = subprocess.Popen(
        [str(BIN / "uvicorn"), "config.asgi:application", "--port", str(port), "--lifespan", "off"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/account",
            headers={"Authorization": "Bearer nk_live_" + "a" * 43},
        )
        deadline = time.monotonic() + 30
        while True:
            started = time.monotonic()
            try:
                urllib.request.urlopen(request, timeout=20)  # noqa: S310
            except urllib.error.HTTPError as error:
                status, retry_after = error.code, error.headers.get("Retry-After")
                elapsed = time.monotonic() - started
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)  # still starting
    finally:
        server.terminate()
        server.wait(timeout=15)
    assert (status, retry_after) == (503, "5")
    assert elapsed < 5
