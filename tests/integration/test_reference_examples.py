# ruff: noqa: RUF001 (the reference's Chinese prompts use full-width punctuation)
"""Every request example of the API reference, sent verbatim to uvicorn and a real worker.

Only the image host changes: `https://example.com/…` becomes a local image server that the fetch
allowlist admits (NANOBANANA_FETCH_ALLOW_HOSTS=127.0.0.1 in the stack). Each example is sent in
both forms a client may meet: answered at once (200, the reference's response shape) and
`Prefer: respond-async` (202, then GET /v1/task/{id} until done).
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image
from skimage import data as skimage_data

from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration

# The reference's request examples, character for character.
EXAMPLES: dict[str, dict[str, Any]] = {
    "/v1/image-edit": {
        "prompt": "将人物背景改为海滩风景，保持人物不变",
        "image_url": "https://example.com/portrait.jpg",
        "strength": 0.8,
        "preserve_scene": True,
    },
    "/v1/remove-background": {
        "image_url": "https://example.com/person.jpg",
        "return_mask": False,
        "edge_smooth": True,
    },
    "/v1/text-to-image": {
        "prompt": "一只可爱的小熊猫在竹林里玩耍，阳光明媚，高清摄影风格",
        "width": 768,
        "height": 512,
        "style": "realistic",
        "quality": "high",
    },
    "/v1/batch-edit": {
        "prompt": "保持人物面部特征，更换不同的服装背景",
        "image_urls": [
            "https://example.com/person1.jpg",
            "https://example.com/person2.jpg",
            "https://example.com/person3.jpg",
        ],
        "preserve_character": True,
        "style_consistency": True,
    },
    "/v1/style-transfer": {
        "content_image_url": "https://example.com/portrait.jpg",
        "style_image_url": "https://example.com/van_gogh.jpg",
        "strength": 0.7,
    },
    "/v1/enhance": {
        "image_url": "https://example.com/low_res.jpg",
        "enhancement_type": "upscale",
        "upscale_factor": 4,
    },
}
CREDITS = {
    "/v1/image-edit": 5,
    "/v1/remove-background": 3,
    "/v1/text-to-image": 8,
    "/v1/style-transfer": 6,
    "/v1/enhance": 4,
}
# The reference's response keys and their JSON types.
RESULT_KEYS = {
    "success": bool,
    "task_id": str,
    "image_url": str,
    "description": str,
    "processing_time": (int, float),
    "credits_used": int,
}
TASK_KEYS = {
    "task_id": str,
    "status": str,
    "progress": int,
    "result": dict,
    "error": type(None),
    "created_at": str,
    "completed_at": str,
}


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def image_server() -> Iterator[str]:
    """Serves the reference's example images from real photos scikit-image ships."""
    astronaut = Image.fromarray(skimage_data.astronaut()).resize((256, 256))
    coffee = Image.fromarray(skimage_data.coffee()).resize((256, 192))
    chelsea = Image.fromarray(skimage_data.chelsea()).resize((240, 160))
    files = {
        "/portrait.jpg": _jpeg(astronaut),
        "/person.jpg": _jpeg(astronaut),
        "/person1.jpg": _jpeg(astronaut),
        "/person2.jpg": _jpeg(astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
        "/person3.jpg": _jpeg(astronaut.rotate(5)),
        "/van_gogh.jpg": _jpeg(coffee),
        "/low_res.jpg": _jpeg(chelsea.resize((64, 48))),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def localized(example: dict[str, Any], image_base: str) -> dict[str, Any]:
    return json.loads(json.dumps(example).replace("https://example.com", image_base))


def new_key(stack: Stack, email: str) -> dict[str, str]:
    out = stack.manage("issue_api_key", "--email", email, "--plan", "max").stdout
    return {"Authorization": f"Bearer {out.strip().splitlines()[-1]}"}


def assert_shape(body: dict[str, Any], keys: dict[str, Any]) -> None:
    assert set(body) == set(keys), body
    for key, kind in keys.items():
        assert isinstance(body[key], kind), (key, body[key])


def poll(stack: Stack, headers: dict[str, str], task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status, _h, body = stack.request(f"/v1/task/{task_id}", headers)
        assert status == 200
        if body["status"] in {"completed", "failed"}:
            return body
        assert body["status"] in {"pending", "processing"} and 0 <= body["progress"] <= 100
        time.sleep(0.3)
    raise TimeoutError(task_id)


@pytest.mark.parametrize("path", [p for p in EXAMPLES if p != "/v1/batch-edit"])
def test_each_example_answered_at_once_in_the_reference_shape(
    stack: Stack, image_server: str, path: str
) -> None:
    headers = new_key(stack, f"sync{path.replace('/', '-')}@example.com")
    body = localized(EXAMPLES[path], image_server)
    status, _h, result = stack.request(path, headers, "POST", body, timeout=180)
    assert status == 200, result
    keys = dict(RESULT_KEYS)
    if path == "/v1/remove-background":
        keys["mask_url"] = type(None)  # the key is always there; a URL when return_mask is true
    assert_shape(result, keys)
    assert result["success"] is True and result["task_id"].startswith("task_")
    assert result["credits_used"] == CREDITS[path]
    task = poll(stack, headers, result["task_id"])
    assert_shape(task, TASK_KEYS)
    assert task["status"] == "completed" and task["progress"] == 100
    assert task["created_at"].endswith("Z") and task["completed_at"].endswith("Z")


@pytest.mark.parametrize("path", [p for p in EXAMPLES if p != "/v1/batch-edit"])
def test_each_example_as_202_then_poll(stack: Stack, image_server: str, path: str) -> None:
    headers = new_key(stack, f"async{path.replace('/', '-')}@example.com")
    body = localized(EXAMPLES[path], image_server)
    async_headers = {**headers, "Prefer": "respond-async"}
    status, out_headers, accepted = stack.request(path, async_headers, "POST", body)
    assert status == 202, accepted
    assert_shape(accepted, {"success": bool, "task_id": str, "status": str, "credits_used": int})
    assert out_headers["Location"] == f"/v1/task/{accepted['task_id']}"
    task = poll(stack, headers, accepted["task_id"])
    assert task["status"] == "completed", task
    assert_shape(task, TASK_KEYS)
    assert set(task["result"]) >= {"image_url", "description"}


def test_the_batch_example_and_its_tasks(stack: Stack, image_server: str) -> None:
    headers = new_key(stack, "batch@example.com")
    body = localized(EXAMPLES["/v1/batch-edit"], image_server)
    status, _h, result = stack.request("/v1/batch-edit", headers, "POST", body, timeout=60)
    assert status == 200, result
    assert_shape(result, {"success": bool, "batch_id": str, "tasks": list, "total_credits": int})
    assert result["total_credits"] == 15 and result["batch_id"].startswith("batch_")
    for item in result["tasks"]:
        assert_shape(item, {"task_id": str, "status": str})
        assert poll(stack, headers, item["task_id"])["status"] == "completed"
    status, _h, batch = stack.request(f"/v1/batch/{result['batch_id']}", headers)
    assert status == 200 and batch["status"] == "completed"
    assert [t["task_id"] for t in batch["tasks"]] == [t["task_id"] for t in result["tasks"]]


def test_the_account_example(stack: Stack) -> None:
    headers = new_key(stack, "account@example.com")
    status, _h, account = stack.request("/v1/account", headers)
    assert status == 200
    assert_shape(
        account,
        {
            "user_id": str,
            "email": str,
            "subscription": dict,
            "credits": dict,
            "usage_limits": dict,
        },
    )
    assert set(account["subscription"]) == {"plan", "status", "expires_at"}
    assert set(account["credits"]) >= {"balance", "used_this_month", "last_renewed"}
    assert set(account["usage_limits"]) == {
        "max_images_per_request",
        "max_file_size_mb",
        "allowed_formats",
    }
