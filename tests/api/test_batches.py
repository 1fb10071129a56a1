# ruff: noqa: RUF001 (the reference's Chinese prompt uses full-width punctuation)
"""POST /v1/batch-edit and GET /v1/batch/{id}: one task per image, the batch's state per item."""

import base64
import io

import pytest
from django.test import override_settings
from PIL import Image
from rest_framework.test import APIClient

from accounts.models import Account
from billing.selectors import account_billing_summary, plan_get
from billing.services import credits_set_balance, subscription_set_plan
from core.errors import ProcessingError
from imaging.models import Task
from imaging.services import task_cancel, task_fail

pytestmark = pytest.mark.django_db


def data_url(color: tuple[int, int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def batch_post(client: APIClient, images: int) -> dict:
    body = {
        "prompt": "保持人物面部特征，更换不同的服装背景",
        "image_urls": [data_url((40 * i, 80, 120)) for i in range(images)],
        "preserve_character": True,
        "style_consistency": True,
    }
    response = client.post("/v1/batch-edit", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_batch_is_one_task_per_image_charged_together(
    authed_client: APIClient, account: Account
) -> None:
    response = authed_client.post(
        "/v1/batch-edit",
        {"prompt": "换背景", "image_urls": [data_url((10, 80, 120)), data_url((90, 80, 120))]},
        format="json",
    )
    body = response.json()
    assert body["total_credits"] == 10 and len(body["tasks"]) == 2
    assert account_billing_summary(account=account).balance == 40
    assert (response["X-Credits-Used"], response["X-Credits-Remaining"]) == ("10", "40")
    seeds = {t.params["seed"] for t in Task.objects.for_account(account)}
    assert len(seeds) == 1  # one seed shared by every item


def test_the_batch_shows_each_items_state(authed_client: APIClient, account: Account) -> None:
    subscription_set_plan(account=account, plan=plan_get(code="pro"))
    credits_set_balance(account=account, balance=50, kind="adjustment", idempotency_key="b")
    body = batch_post(authed_client, 3)
    first, second, third = (t["task_id"] for t in body["tasks"])
    response = authed_client.get(f"/v1/batch/{body['batch_id']}")
    assert response.status_code == 200
    detail = response.json()
    assert (detail["status"], detail["total_credits"]) == ("pending", 15)
    assert [t["task_id"] for t in detail["tasks"]] == [first, second, third]

    task_cancel(account=account, public_id=first)
    pk = Task.objects.for_account(account).get(public_id=second).pk
    Task.objects.for_account(account).filter(pk=pk).update(status=Task.Status.PROCESSING)
    task_fail(task_id=pk, error=ProcessingError("model crashed"))
    detail = authed_client.get(f"/v1/batch/{body['batch_id']}").json()
    assert detail["status"] == "processing"  # under way: the third still waits
    assert detail["counts"] == {
        "pending": 1,
        "processing": 0,
        "completed": 0,
        "failed": 1,
        "cancelled": 1,
    }
    assert detail["tasks"][1]["error"]["code"] == "PROCESSING_ERROR"

    task_cancel(account=account, public_id=third)
    assert authed_client.get(f"/v1/batch/{body['batch_id']}").json()["status"] == "failed"
    assert account_billing_summary(account=account).balance == 50  # all three refunded


def test_another_tenants_batch_is_404(authed_client: APIClient, other_client: APIClient) -> None:
    batch_id = batch_post(other_client, 1)["batch_id"]
    response = authed_client.get(f"/v1/batch/{batch_id}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"
    assert authed_client.get("/v1/batch/batch_nope").status_code == 404


@override_settings(IMAGING_GPU_QUEUE_MAX_DEPTH=2)
def test_a_full_gpu_queue_is_503_and_free(authed_client: APIClient, account: Account) -> None:
    batch_post(authed_client, 2)
    response = authed_client.post(
        "/v1/text-to-image", {"prompt": "panda"}, format="json", HTTP_PREFER="respond-async"
    )
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert response.json()["error"]["code"] == "TEMPORARY_UNAVAILABLE"
    assert account_billing_summary(account=account).balance == 40
    assert Task.objects.for_account(account).count() == 2
