"""End to end with real processes: a task finished by the Celery worker is delivered to a receiver
that fails once; the worker retries, the receiver checks both signatures, the log says so."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterator

import pytest
from PIL import Image

from tests.integration.conftest import Stack, stack  # noqa: F401 (the fixture, used below)
from tests.webhooks.conftest import Receiver

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def webhook_stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The integration stack, started with 127.0.0.1 allowed as a callback host and a retry
    schedule of seconds (its processes read these from the environment)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("NANOBANANA_FETCH_ALLOW_HOSTS", "127.0.0.1")
        env.setenv("WEBHOOK_RETRY_DELAYS", "1,1,1")
        yield request.getfixturevalue("stack")


def data_url() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 32), (120, 60, 200)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def wait_for(predicate, what: str, running: Stack, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}; worker log:\n{running.worker_log.read_text()}")


def test_webhook_delivery_with_signature_check_and_retry_after_a_failing_receiver(
    webhook_stack: Stack, receiver_server: Receiver
) -> None:
    app, receiver = webhook_stack, receiver_server
    out = app.manage("issue_api_key", "--email", "hooks@example.com", "--plan", "pro").stdout
    auth = {"Authorization": f"Bearer {out.strip().splitlines()[-1]}"}

    status, _h, endpoint = app.request("/v1/webhooks", auth, "POST", {"url": receiver.url})
    assert status == 201, endpoint
    receiver.reset(answers=[500], secret=endpoint["secret"])

    body = {"image_url": data_url(), "enhancement_type": "color"}
    headers = {**auth, "Prefer": "respond-async"}
    status, _h, accepted = app.request("/v1/enhance", headers, "POST", body)
    assert status == 202, accepted

    wait_for(lambda: len(receiver.received) >= 2, "the retried delivery", app)
    first, second = receiver.received[:2]
    assert first.signature_valid is True and second.signature_valid is True
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.headers["webhook-id"].startswith("msg_")
    assert abs(time.time() - int(second.headers["webhook-timestamp"])) < 60
    event = json.loads(second.body)
    assert event["type"] == "task.completed"
    assert event["data"]["task_id"] == accepted["task_id"]
    assert event["data"]["status"] == "completed" and event["data"]["result"]["image_url"]

    log = f"/v1/webhooks/{endpoint['id']}/deliveries"

    def recorded() -> bool:
        deliveries = app.request(log, auth)[2]["deliveries"]
        return bool(deliveries) and deliveries[0]["status"] == "succeeded"

    wait_for(recorded, "the delivery log", app, timeout=20)
    [delivery] = app.request(log, auth)[2]["deliveries"]
    assert delivery["id"] == first.headers["webhook-id"]
    assert (delivery["attempts"], delivery["last_status_code"]) == (2, 200)
    assert len(receiver.received) == 2
