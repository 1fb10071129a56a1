"""The operation endpoints' request handling: validation, charging, 202 and polling, cancel, 402."""

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.models import Account
from accounts.services import api_key_issue, user_personal_account_ensure
from billing.selectors import account_billing_summary, plan_get
from billing.services import credits_set_balance, subscription_set_plan
from imaging.models import Task

pytestmark = pytest.mark.django_db

ASYNC = {"HTTP_PREFER": "respond-async"}
T2I = {"prompt": "一只可爱的小熊猫在竹林里玩耍", "width": 768, "height": 512, "quality": "high"}


def post(client: APIClient, path: str, body: dict, **headers):
    return client.post(path, body, format="json", **headers)


def test_prefer_async_answers_202_with_location_and_charges(
    authed_client: APIClient, account: Account
) -> None:
    response = post(authed_client, "/v1/text-to-image", T2I, **ASYNC)
    assert response.status_code == 202
    body = response.json()
    assert body["success"] is True and body["status"] == "pending" and body["credits_used"] == 8
    assert response["Location"] == f"/v1/task/{body['task_id']}"
    assert account_billing_summary(account=account).balance == 42
    assert (response["X-Credits-Used"], response["X-Credits-Remaining"]) == ("8", "42")
    task = Task.objects.for_account(account).get()
    assert task.params["prompt"] == T2I["prompt"] and task.params["seed"] is not None


def test_an_unlimited_plan_reports_unlimited_credits_remaining(
    authed_client: APIClient, account: Account
) -> None:
    subscription_set_plan(account=account, plan=plan_get(code="max"))
    response = post(authed_client, "/v1/text-to-image", T2I, **ASYNC)
    assert response.status_code == 202
    assert (response["X-Credits-Used"], response["X-Credits-Remaining"]) == ("8", "unlimited")


@override_settings(API_SYNC_WAIT_SECONDS=0.2)
def test_a_result_not_ready_in_time_still_answers_202(authed_client: APIClient) -> None:
    response = post(authed_client, "/v1/text-to-image", T2I)
    assert response.status_code == 202
    assert response["RateLimit-Policy"].startswith('"minute"')


def test_polling_shows_the_reference_shape(authed_client: APIClient) -> None:
    task_id = post(authed_client, "/v1/text-to-image", T2I, **ASYNC).json()["task_id"]
    body = authed_client.get(f"/v1/task/{task_id}").json()
    assert set(body) == {
        "task_id",
        "status",
        "progress",
        "result",
        "error",
        "created_at",
        "completed_at",
    }
    assert (body["status"], body["progress"], body["result"], body["error"]) == (
        "pending",
        0,
        None,
        None,
    )
    assert body["created_at"].endswith("Z") and body["completed_at"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"width": 512}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "cat", "width": 100}, "width"),
        ({"prompt": "cat", "width": 4096}, "width"),
        ({"prompt": "cat", "style": "cubist"}, "style"),
        ({"prompt": "cat", "quality": "ultra"}, "quality"),
        ({"prompt": "cat", "seed": -1}, "seed"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(
    authed_client: APIClient, account: Account, body: dict, field: str
) -> None:
    response = post(authed_client, "/v1/text-to-image", body, **ASYNC)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "INVALID_REQUEST" and error["details"].startswith(f"{field}:")
    assert account_billing_summary(account=account).balance == 50
    assert not Task.objects.for_account(account).exists()


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/enhance", {"image_url": "ftp://example.com/a.png"}, "image_url"),
        ("/v1/enhance", {"image_url": "https://x/a.png", "upscale_factor": 3}, "upscale_factor"),
        ("/v1/image-edit", {"image_url": "https://x/a.png", "strength": 1.5}, "prompt"),
        ("/v1/style-transfer", {"content_image_url": "https://x/a.png"}, "style_image_url"),
        ("/v1/batch-edit", {"prompt": "x", "image_urls": []}, "image_urls"),
    ],
)
def test_other_operations_validate_before_fetching(
    authed_client: APIClient, path: str, body: dict, field: str
) -> None:
    response = post(authed_client, path, body, **ASYNC)
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


def test_insufficient_credits_is_402_and_nothing_is_queued(
    authed_client: APIClient, account: Account
) -> None:
    credits_set_balance(account=account, balance=7, kind="adjustment", idempotency_key="low")
    response = post(authed_client, "/v1/text-to-image", T2I, **ASYNC)
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "INSUFFICIENT_CREDITS"
    assert not Task.objects.for_account(account).exists()


def test_cancel_refunds_a_pending_task(authed_client: APIClient, account: Account) -> None:
    task_id = post(authed_client, "/v1/text-to-image", T2I, **ASYNC).json()["task_id"]
    response = authed_client.post(f"/v1/task/{task_id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert account_billing_summary(account=account).balance == 50
    again = authed_client.post(f"/v1/task/{task_id}/cancel")  # idempotent, refunded once
    assert again.status_code == 200
    assert account_billing_summary(account=account).balance == 50


def test_a_running_task_cannot_be_cancelled(authed_client: APIClient, account: Account) -> None:
    task_id = post(authed_client, "/v1/text-to-image", T2I, **ASYNC).json()["task_id"]
    Task.objects.for_account(account).filter(public_id=task_id).update(status="processing")
    response = authed_client.post(f"/v1/task/{task_id}/cancel")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "TASK_NOT_CANCELLABLE"
    assert account_billing_summary(account=account).balance == 42


def test_tenant_a_cannot_read_or_cancel_bs_task(authed_client: APIClient, make_user) -> None:
    other = user_personal_account_ensure(user=make_user())
    _key, raw = api_key_issue(account=other, name="b")
    other_client = APIClient()
    other_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    task_id = post(other_client, "/v1/text-to-image", T2I, **ASYNC).json()["task_id"]
    assert authed_client.get(f"/v1/task/{task_id}").status_code == 404
    assert authed_client.post(f"/v1/task/{task_id}/cancel").status_code == 404
    assert other_client.get(f"/v1/task/{task_id}").status_code == 200


def test_operations_need_a_key(api_client: APIClient) -> None:
    response = post(api_client, "/v1/text-to-image", T2I, **ASYNC)
    assert response.status_code == 401


def test_the_fourth_generation_in_a_minute_on_basic_is_429(
    authed_client: APIClient, account: Account
) -> None:
    subscription_set_plan(account=account, plan=plan_get(code="basic"))
    statuses = [
        post(authed_client, "/v1/text-to-image", T2I, **ASYNC).status_code for _ in range(4)
    ]
    assert statuses == [202, 202, 202, 429]
    assert Task.objects.for_account(account).count() == 3
    assert account_billing_summary(account=account).balance == 500 - 3 * 8
    # Polling is not billable work: it still answers.
    assert authed_client.get("/v1/account").status_code == 200


def data_url(image_format: str, size: tuple[int, int] = (40, 30)) -> str:
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, (120, 80, 40)).save(buffer, image_format)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return f"data:image/{image_format.lower()};base64,{encoded}"


def test_an_image_as_data_url_is_accepted(authed_client: APIClient, account: Account) -> None:
    response = post(authed_client, "/v1/enhance", {"image_url": data_url("PNG")}, **ASYNC)
    assert response.status_code == 202
    assert account_billing_summary(account=account).balance == 46


def test_an_unsupported_format_is_415_and_free(authed_client: APIClient, account: Account) -> None:
    response = post(authed_client, "/v1/enhance", {"image_url": data_url("GIF")}, **ASYNC)
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "UNSUPPORTED_FORMAT"
    assert account_billing_summary(account=account).balance == 50


def test_a_file_over_the_plans_limit_is_413_and_free(
    authed_client: APIClient, account: Account
) -> None:
    import base64

    too_big = "data:image/png;base64," + base64.b64encode(b"\0" * (5 * 1024 * 1024 + 10)).decode()
    response = post(authed_client, "/v1/enhance", {"image_url": too_big}, **ASYNC)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "FILE_TOO_LARGE"
    assert account_billing_summary(account=account).balance == 50


def test_a_private_address_is_refused_before_any_charge(
    authed_client: APIClient, account: Account
) -> None:
    body = {"image_url": "http://169.254.169.254/latest/meta-data/"}
    response = post(authed_client, "/v1/enhance", body, **ASYNC)
    assert response.status_code == 400
    assert account_billing_summary(account=account).balance == 50


def test_a_multipart_upload_is_accepted(authed_client: APIClient) -> None:
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), "blue").save(buffer, "JPEG")
    upload = SimpleUploadedFile("cat.jpg", buffer.getvalue(), content_type="image/jpeg")
    response = authed_client.post(
        "/v1/enhance", {"image": upload, "enhancement_type": "color"}, **ASYNC
    )
    assert response.status_code == 202, response.json()


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100)
def test_a_body_over_the_servers_limit_is_413_not_500(authed_client: APIClient) -> None:
    response = post(authed_client, "/v1/enhance", {"image_url": data_url("PNG", (200, 200))})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "FILE_TOO_LARGE"
