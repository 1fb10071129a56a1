# ruff: noqa: RUF001
# (Chinese text uses full-width punctuation on purpose.)
"""A result's description speaks the prompt's language, or, for an operation without a prompt,
the request's (Accept-Language), else English: submitted over the API, run by the worker's code,
read back from /v1/task/{id}. The stored language is not shown back as a request parameter."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from PIL import Image
from rest_framework.test import APIClient

from accounts.models import User
from imaging import runner
from imaging.engine.types import LANGUAGE_PARAM
from imaging.models import Task
from imaging.services import ClaimResult, task_claim

pytestmark = pytest.mark.django_db

ASYNC = {"HTTP_PREFER": "respond-async"}
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def photo_url() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 32), (120, 80, 40)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def submit(client: APIClient, path: str, body: dict, language: str | None = None) -> Task:
    headers = {"HTTP_ACCEPT_LANGUAGE": language} if language else {}
    response = client.post(path, body, format="json", **ASYNC, **headers)
    assert response.status_code == 202, response.json()
    return Task.unscoped_objects.get(public_id=response.json()["task_id"])


def described(client: APIClient, task: Task) -> str:
    """The worker's part (claim, run the engine, store the result), then the client's poll."""
    assert task_claim(task_id=task.pk, claim_id="msg-1") == ClaimResult.CLAIMED
    runner.task_execute(task_id=task.pk, claim_id="msg-1")
    body = client.get(f"/v1/task/{task.public_id}").json()
    assert body["status"] == "completed", body
    return body["result"]["description"]


@pytest.fixture
def demo_diffusion(tmp_path: Path) -> Iterator[None]:
    """The worker's model manager over demo models built in a throw-away folder."""
    runner.model_manager.cache_clear()
    with override_settings(IMAGING_MODEL_CACHE_DIR=tmp_path):
        yield
    runner.model_manager.cache_clear()


@pytest.mark.parametrize("language", ["zh-CN", "zh-Hans", "zh"])
def test_an_enhance_asked_in_chinese_is_described_in_chinese(
    authed_client: APIClient, language: str
) -> None:
    task = submit(authed_client, "/v1/enhance", {"image_url": photo_url()}, language)
    assert task.params[LANGUAGE_PARAM] == "zh-hans"
    description = described(authed_client, task)
    assert description.startswith("已用Real-ESRGAN") and description.endswith("。")
    assert "从 48x32 到 96x64" in description


@pytest.mark.parametrize("language", ["en", "en-US", "fr", None])
def test_an_enhance_asked_in_english_or_anything_else_is_described_in_english(
    authed_client: APIClient, language: str | None
) -> None:
    task = submit(authed_client, "/v1/enhance", {"image_url": photo_url()}, language)
    description = described(authed_client, task)
    assert description.startswith("Upscaled x2 with Real-ESRGAN")
    assert not CHINESE.search(description)


def test_every_kind_of_enhancement_has_a_chinese_description(authed_client: APIClient) -> None:
    for kind, start in (("denoise", "已用非局部均值去噪"), ("color", "已校正色彩")):
        body = {"image_url": photo_url(), "enhancement_type": kind}
        task = submit(authed_client, "/v1/enhance", body, "zh-CN")
        assert described(authed_client, task).startswith(start)


def test_a_background_removal_follows_accept_language(authed_client: APIClient) -> None:
    chinese = submit(authed_client, "/v1/remove-background", {"image_url": photo_url()}, "zh-CN")
    english = submit(authed_client, "/v1/remove-background", {"image_url": photo_url()}, "en")
    assert described(authed_client, chinese).startswith("已用")
    assert described(authed_client, english).startswith("Background removed with")


def test_a_chinese_prompt_is_described_in_chinese_whatever_the_header(
    authed_client: APIClient, demo_diffusion: None
) -> None:
    body = {"prompt": "一只可爱的小熊猫在竹林里玩耍", "width": 64, "height": 64}
    task = submit(authed_client, "/v1/text-to-image", body, "en")
    assert described(authed_client, task) == "已根据提示生成图像（演示模型）。"


def test_an_english_prompt_is_described_in_english_whatever_the_header(
    authed_client: APIClient, demo_diffusion: None
) -> None:
    body = {"prompt": "a red panda in a bamboo forest", "width": 64, "height": 64}
    task = submit(authed_client, "/v1/text-to-image", body, "zh-CN")
    assert described(authed_client, task) == "Generated an image from the prompt (demo model)."


def test_the_stored_language_is_not_shown_as_a_request_parameter(
    authed_client: APIClient, client: Client, user: User
) -> None:
    task = submit(authed_client, "/v1/enhance", {"image_url": photo_url()}, "zh-CN")
    assert LANGUAGE_PARAM in task.params
    api_body = authed_client.get(f"/v1/task/{task.public_id}").content.decode()
    client.force_login(user)
    detail = client.get(reverse("task_detail", args=[task.public_id])).content.decode()
    playground = client.get(
        reverse("playground_operation", args=["enhance"]), {"task": task.public_id}
    ).content.decode()
    assert "upscale_factor" in detail and "upscale_factor" in playground  # the params are there
    for page in (api_body, detail, playground):
        assert LANGUAGE_PARAM not in page
