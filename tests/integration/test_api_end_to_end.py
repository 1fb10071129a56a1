# ruff: noqa: RUF001 (the reference's Chinese prompts use full-width punctuation)
"""Over HTTP against uvicorn and a real worker: the reference's requests, answered for real."""

import base64
import io
import re
import threading
import time
import urllib.request

import psutil
import pytest
from PIL import Image

from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration
WAITERS = 8  # within the max plan's 10 requests a minute


def data_url(color: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="module")
def key(stack: Stack) -> str:
    out = stack.manage("issue_api_key", "--email", "e2e@example.com", "--plan", "pro").stdout
    return out.strip().splitlines()[-1]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_text_to_image_answers_with_the_finished_image(stack: Stack, key: str) -> None:
    body = {"prompt": "一只可爱的小熊猫在竹林里玩耍", "width": 128, "height": 96, "quality": "high"}
    status, _h, result = stack.request("/v1/text-to-image", auth(key), "POST", body, timeout=120)
    assert status == 200, result
    assert set(result) == {
        "success",
        "task_id",
        "image_url",
        "description",
        "processing_time",
        "credits_used",
    }
    assert result["credits_used"] == 8 and re.search("[\u4e00-\u9fff]", result["description"])
    # SITE_URL names the default port; this server listens on another.
    image_url = result["image_url"].replace("http://127.0.0.1:8000", stack.base_url)
    with urllib.request.urlopen(image_url) as f:  # noqa: S310 (our own server)
        image = Image.open(io.BytesIO(f.read()))
    assert image.size == (128, 96)


def test_remove_background_202_then_poll(stack: Stack, key: str) -> None:
    body = {"image_url": data_url((30, 140, 200)), "return_mask": True}
    headers = {**auth(key), "Prefer": "respond-async"}
    status, headers_out, accepted = stack.request("/v1/remove-background", headers, "POST", body)
    assert status == 202 and headers_out["Location"] == f"/v1/task/{accepted['task_id']}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        _s, _h, task = stack.request(headers_out["Location"], auth(key))
        if task["status"] in {"completed", "failed"}:
            break
        time.sleep(0.5)
    assert task["status"] == "completed", task
    assert task["progress"] == 100 and task["result"]["mask_url"]
    assert task["completed_at"].endswith("Z")


def test_batch_edit_runs_every_item(stack: Stack, key: str) -> None:
    body = {
        "prompt": "保持人物面部特征，更换不同的服装背景",
        "image_urls": [data_url((200, 50, 50)), data_url((50, 200, 50)), data_url((50, 50, 200))],
    }
    status, _h, batch = stack.request("/v1/batch-edit", auth(key), "POST", body)
    assert status == 200 and batch["total_credits"] == 15 and len(batch["tasks"]) == 3
    deadline = time.monotonic() + 180
    pending = {t["task_id"] for t in batch["tasks"]}
    while pending and time.monotonic() < deadline:
        for task_id in list(pending):
            _s, _h, task = stack.request(f"/v1/task/{task_id}", auth(key))
            if task["status"] in {"completed", "failed"}:
                assert task["status"] == "completed", task
                pending.discard(task_id)
        time.sleep(1)
    assert not pending


def new_key(stack: Stack, email: str) -> str:
    out = stack.manage("issue_api_key", "--email", email, "--plan", "pro").stdout
    return out.strip().splitlines()[-1]


def balance(stack: Stack, key: str) -> int:
    return stack.request("/v1/account", auth(key))[2]["credits"]["balance"]


def test_an_idempotent_retry_gets_the_same_answer_and_one_charge(stack: Stack) -> None:
    key = new_key(stack, "idem@example.com")
    before = balance(stack, key)
    headers = {**auth(key), "Idempotency-Key": "render-7"}
    body = {"prompt": "a red fox in the snow", "width": 64, "height": 64}
    status, _h, first = stack.request("/v1/text-to-image", headers, "POST", body, timeout=120)
    assert status == 200, first
    status, replay_headers, again = stack.request("/v1/text-to-image", headers, "POST", body)
    assert status == 200 and again["task_id"] == first["task_id"]
    assert replay_headers["Idempotent-Replayed"] == "true"
    assert balance(stack, key) == before - 8
    status, _h, conflict = stack.request(
        "/v1/text-to-image", headers, "POST", {**body, "prompt": "a blue fox"}
    )
    assert status == 409 and conflict["error"]["code"] == "IDEMPOTENCY_CONFLICT"


def test_a_task_queued_behind_another_is_cancelled_and_refunded(stack: Stack) -> None:
    key = new_key(stack, "cancel@example.com")
    before = balance(stack, key)
    async_headers = {**auth(key), "Prefer": "respond-async"}
    # The worker runs one task at a time: a large generation keeps it busy meanwhile.
    busy = {"prompt": "a long river", "width": 1024, "height": 1024, "quality": "high"}
    stack.request("/v1/text-to-image", async_headers, "POST", busy)
    status, _h, queued = stack.request(
        "/v1/enhance", async_headers, "POST", {"image_url": data_url((90, 90, 90))}
    )
    assert status == 202
    status, _h, cancelled = stack.request(f"/v1/task/{queued['task_id']}/cancel", auth(key), "POST")
    assert status == 200 and cancelled["status"] == "cancelled", cancelled
    assert balance(stack, key) == before - 8  # the enhance's 4 credits came back
    time.sleep(1)  # the worker may reach the cancelled task's message: it must skip it
    assert stack.request(f"/v1/task/{queued['task_id']}", auth(key))[2]["status"] == "cancelled"


def test_tenant_b_cannot_see_tenant_as_task(stack: Stack) -> None:
    key_a, key_b = new_key(stack, "tenant-a@example.com"), new_key(stack, "tenant-b@example.com")
    async_headers = {**auth(key_a), "Prefer": "respond-async"}
    body = {"image_url": data_url((10, 20, 30)), "enhancement_type": "color"}
    _s, _h, accepted = stack.request("/v1/enhance", async_headers, "POST", body)
    for path in (f"/v1/task/{accepted['task_id']}", f"/v1/task/{accepted['task_id']}/cancel"):
        method = "POST" if path.endswith("cancel") else "GET"
        status, _h, body_b = stack.request(path, auth(key_b), method)
        assert status == 404 and body_b["error"]["code"] == "NOT_FOUND"
    assert stack.request(f"/v1/task/{accepted['task_id']}", auth(key_a))[0] == 200


def test_waiting_requests_park_no_server_thread(stack: Stack) -> None:
    out = stack.manage("issue_api_key", "--email", "waiters@example.com", "--plan", "max").stdout
    headers = auth(out.strip().splitlines()[-1])
    server = psutil.Process(stack.web.pid)  # uvicorn
    idle = server.num_threads()
    # A job of seconds first (Real-ESRGAN x2 of 768x768 on CPU): the stack's one worker runs it
    # while the waiting requests' tasks queue behind it.
    slow = {"image_url": data_url((90, 140, 200), size=(768, 768)), "enhancement_type": "upscale"}
    async_headers = {**headers, "Prefer": "respond-async"}
    status, _h, accepted = stack.request("/v1/enhance", async_headers, "POST", slow)
    assert status == 202
    deadline = time.monotonic() + 30
    while stack.request(f"/v1/task/{accepted['task_id']}", headers)[2]["status"] == "pending":
        assert time.monotonic() < deadline, "the worker never started the slow job"
        time.sleep(0.05)
    answers: list[int] = []

    def wait_for_an_image(n: int) -> None:
        body = {"prompt": f"lighthouse {n}", "width": 64, "height": 64}
        answers.append(stack.request("/v1/text-to-image", headers, "POST", body, timeout=120)[0])

    clients = [threading.Thread(target=wait_for_an_image, args=(n,)) for n in range(WAITERS)]
    for client in clients:
        client.start()
    time.sleep(1.5)  # every request submitted (milliseconds each) and now waiting
    waiting, threads = sum(client.is_alive() for client in clients), server.num_threads()
    for client in clients:
        client.join()
    assert answers == [200] * WAITERS
    assert waiting == WAITERS
    assert threads - idle < WAITERS // 2  # not one thread per waiting request
