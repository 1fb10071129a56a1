"""Idempotency-Key on POSTs: a retry gets the stored answer, never a second task or charge."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Account
from api.idempotency import idempotency_fingerprint
from api.models import IdempotencyKey
from billing.selectors import account_billing_summary
from billing.services import credits_set_balance
from imaging.models import Task
from imaging.services import task_complete

pytestmark = pytest.mark.django_db

ASYNC = {"HTTP_PREFER": "respond-async"}
T2I = {"prompt": "一只可爱的小熊猫在竹林里玩耍", "width": 64, "height": 64}


def post(client: APIClient, body: dict, key: str, **headers):
    return client.post(
        "/v1/text-to-image", body, format="json", HTTP_IDEMPOTENCY_KEY=key, **headers
    )


def balance(account: Account) -> int:
    return account_billing_summary(account=account).balance


def test_a_retry_with_the_same_key_replays_the_answer_without_a_second_charge(
    authed_client: APIClient, account: Account
) -> None:
    first = post(authed_client, T2I, "order-42", **ASYNC)
    again = post(authed_client, T2I, "order-42", **ASYNC)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert Task.objects.for_account(account).count() == 1
    assert balance(account) == 50 - 8


def test_the_same_key_with_other_parameters_is_a_409_conflict(
    authed_client: APIClient, account: Account
) -> None:
    post(authed_client, T2I, "k1", **ASYNC)
    response = post(authed_client, {**T2I, "prompt": "a red fox"}, "k1", **ASYNC)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "IDEMPOTENCY_CONFLICT"
    assert Task.objects.for_account(account).count() == 1 and balance(account) == 42


def test_without_a_key_every_post_is_new(authed_client: APIClient, account: Account) -> None:
    authed_client.post("/v1/text-to-image", T2I, format="json", **ASYNC)
    authed_client.post("/v1/text-to-image", T2I, format="json", **ASYNC)
    assert Task.objects.for_account(account).count() == 2


def test_keys_belong_to_their_account(
    authed_client: APIClient, account: Account, other_client: APIClient
) -> None:
    post(authed_client, T2I, "shared-key", **ASYNC)
    response = post(other_client, {**T2I, "prompt": "other tenant"}, "shared-key", **ASYNC)
    assert response.status_code == 202
    assert response.json()["task_id"] != Task.objects.for_account(account).get().public_id


def test_a_refused_request_releases_its_key(authed_client: APIClient, account: Account) -> None:
    credits_set_balance(account=account, balance=0, kind="adjustment", idempotency_key="empty")
    assert post(authed_client, T2I, "k2", **ASYNC).status_code == 402
    credits_set_balance(account=account, balance=20, kind="adjustment", idempotency_key="topup")
    response = post(authed_client, T2I, "k2", **ASYNC)
    assert response.status_code == 202 and "Idempotent-Replayed" not in response
    assert balance(account) == 12


def test_a_key_still_being_handled_is_a_409_to_retry(
    authed_client: APIClient, account: Account
) -> None:
    fingerprint = idempotency_fingerprint(method="POST", path="/v1/text-to-image", data=T2I)
    IdempotencyKey.objects.create(account=account, key="busy", fingerprint=fingerprint)
    response = post(authed_client, T2I, "busy", **ASYNC)
    assert response.status_code == 409 and response["Retry-After"] == "1"
    assert not Task.objects.for_account(account).exists()


def test_an_expired_key_starts_afresh(authed_client: APIClient, account: Account) -> None:
    post(authed_client, T2I, "old", **ASYNC)
    IdempotencyKey.objects.for_account(account).update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    response = post(authed_client, {**T2I, "prompt": "new"}, "old", **ASYNC)
    assert response.status_code == 202
    assert Task.objects.for_account(account).count() == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve"])
def test_a_malformed_key_is_400(authed_client: APIClient, key: str) -> None:
    response = post(authed_client, T2I, key, **ASYNC)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["details"]


@override_settings(API_SYNC_WAIT_SECONDS=1)
def test_a_waiting_retry_answers_with_the_finished_task(
    authed_client: APIClient, account: Account
) -> None:
    accepted = post(authed_client, T2I, "sync", **ASYNC).json()
    task = Task.objects.for_account(account).get()
    Task.objects.for_account(account).update(
        status=Task.Status.PROCESSING, started_at=task.created_at
    )
    task_complete(
        task_id=task.pk,
        result_files=task.input_files or ["results/x.png"],
        description="生成了一张熊猫在竹林的图像",
        seed=1,
        timings={},
        demo=True,
    )
    response = post(authed_client, T2I, "sync")  # the client retries, now willing to wait
    assert response.status_code == 200
    body = response.json()
    assert body["task_id"] == accepted["task_id"] and body["description"].startswith("生成")
    # The finished answer is what the key now replays.
    stored = IdempotencyKey.objects.for_account(account).get()
    assert stored.status_code == 200 and stored.response_body["task_id"] == accepted["task_id"]
    assert balance(account) == 42


def test_cancel_is_idempotent_too(authed_client: APIClient, account: Account) -> None:
    task_id = post(authed_client, T2I, "t", **ASYNC).json()["task_id"]
    first = authed_client.post(f"/v1/task/{task_id}/cancel", HTTP_IDEMPOTENCY_KEY="c")
    again = authed_client.post(f"/v1/task/{task_id}/cancel", HTTP_IDEMPOTENCY_KEY="c")
    assert first.status_code == again.status_code == 200
    assert again["Idempotent-Replayed"] == "true" and balance(account) == 50
