# ruff: noqa: RUF001 (the reference's Chinese prompts use full-width punctuation)
"""Over HTTP against uvicorn and a real worker: the reference's requests, answered for real."""

import base64
import io
import re
import time
import urllib.request

import pytest
from PIL import Image

from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration


def data_url(color: tuple[int, int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buffer, "PNG")
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
