"""/v1/webhooks: register, list, show, delete; callback URLs obey the image-fetch SSRF rules; one
tenant never sees or touches another's endpoints or deliveries."""

from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import Account
from accounts.selectors import account_owner
from accounts.services import api_key_issue, user_personal_account_ensure
from core.errors import ProcessingError
from imaging.services import task_fail
from tests.webhooks.conftest import Receiver, processing_task
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.signing import webhook_endpoint_secret

pytestmark = pytest.mark.django_db

PUBLIC_URL = "https://1.1.1.1/hooks/nanobanana"


@pytest.fixture
def other_account(make_user) -> Account:
    return user_personal_account_ensure(user=make_user())


@pytest.fixture
def other_client(other_account: Account) -> APIClient:
    _key, raw = api_key_issue(
        account=other_account, name="b", created_by=account_owner(account=other_account)
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def create(client: APIClient, url: str = PUBLIC_URL, **extra: Any):
    return client.post("/v1/webhooks", {"url": url, **extra}, format="json")


def error_of(response) -> dict:
    assert response.json()["success"] is False
    return response.json()["error"]


def test_register_answers_201_with_the_secret(authed_client: APIClient, account: Account) -> None:
    response = create(authed_client, description="prod")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "id",
        "url",
        "description",
        "is_active",
        "disabled_reason",
        "created_at",
        "secret",
    }
    assert body["id"].startswith("we_") and body["url"] == PUBLIC_URL
    assert (body["description"], body["is_active"]) == ("prod", True)
    assert body["created_at"].endswith("Z")
    endpoint = WebhookEndpoint.objects.for_account(account).get(public_id=body["id"])
    assert body["secret"] == webhook_endpoint_secret(endpoint=endpoint)


def test_list_shows_endpoints_without_secrets(authed_client: APIClient) -> None:
    first = create(authed_client).json()
    second = create(authed_client, "http://8.8.8.8:8080/x").json()
    response = authed_client.get("/v1/webhooks")
    assert response.status_code == 200
    listed = response.json()["webhooks"]
    assert [e["id"] for e in listed] == [first["id"], second["id"]]
    assert all("secret" not in e for e in listed)


def test_get_shows_one_endpoint_with_its_secret(authed_client: APIClient) -> None:
    created = create(authed_client).json()
    response = authed_client.get(f"/v1/webhooks/{created['id']}")
    assert response.status_code == 200 and response.json() == created


def test_patch_switches_an_endpoint_off_and_on_and_edits_its_description(
    authed_client: APIClient,
) -> None:
    created = create(authed_client, description="prod").json()
    path = f"/v1/webhooks/{created['id']}"
    off = authed_client.patch(path, {"is_active": False}, format="json")
    assert off.status_code == 200
    assert (off.json()["is_active"], off.json()["description"]) == (False, "prod")
    assert "secret" not in off.json()
    renamed = authed_client.patch(path, {"description": " staging "}, format="json").json()
    assert (renamed["is_active"], renamed["description"]) == (False, "staging")
    assert authed_client.patch(path, {"is_active": True}, format="json").json()["is_active"]
    bad = authed_client.patch(path, {"is_active": "maybe"}, format="json")
    assert bad.status_code == 400 and error_of(bad)["code"] == "INVALID_REQUEST"


def test_rotating_the_secret_answers_the_new_one(authed_client: APIClient) -> None:
    created = create(authed_client).json()
    rotated = authed_client.post(f"/v1/webhooks/{created['id']}/rotate-secret")
    assert rotated.status_code == 200
    secret = rotated.json()["secret"]
    assert secret.startswith("whsec_") and secret != created["secret"]
    assert authed_client.get(f"/v1/webhooks/{created['id']}").json()["secret"] == secret


def test_delete_answers_204_and_the_endpoint_is_gone(authed_client: APIClient) -> None:
    created = create(authed_client).json()
    assert authed_client.delete(f"/v1/webhooks/{created['id']}").status_code == 204
    assert authed_client.get(f"/v1/webhooks/{created['id']}").status_code == 404
    assert authed_client.get("/v1/webhooks").json() == {"webhooks": []}


def test_missing_url_is_an_invalid_request_naming_the_field(authed_client: APIClient) -> None:
    response = authed_client.post("/v1/webhooks", {}, format="json")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "INVALID_REQUEST" and error["details"].startswith("url:")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8000/hook",
        "http://10.0.0.5/hook",
        "http://192.168.1.10/hook",
        "http://172.16.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[::ffff:169.254.169.254]/hook",
        "http://[64:ff9b::a9fe:a9fe]/hook",
        "http://[fd00::1]/hook",
        "http://[fe80::1]/hook",
        "http://2130706433/hook",
        "http://0.0.0.0/hook",
        "http://100.64.0.1/hook",
        "http://198.18.0.1/hook",
    ],
)
def test_private_loopback_and_metadata_urls_are_refused(authed_client: APIClient, url: str) -> None:
    response = create(authed_client, url)
    assert response.status_code == 400, response.json()
    error = error_of(response)
    assert error["code"] == "INVALID_REQUEST"
    assert error["details"] == "url: The URL points to an address that is not public."
    assert authed_client.get("/v1/webhooks").json() == {"webhooks": []}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://1.1.1.1/hook", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("gopher://1.1.1.1:70/_x", "http or https"),
        ("https://user:pass@1.1.1.1/hook", "credentials"),
        ("not a url", "http or https"),
        ("https://" + "a" * 2100 + ".example/", ""),
    ],
)
def test_other_unusable_urls_are_refused(authed_client: APIClient, url: str, reason: str) -> None:
    response = create(authed_client, url)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "INVALID_REQUEST" and error["details"].startswith("url:")
    assert reason in error["details"]


def test_an_allowlisted_host_may_be_private(authed_client: APIClient, settings) -> None:
    settings.NANOBANANA_FETCH_ALLOW_HOSTS = ["127.0.0.1"]
    assert create(authed_client, "http://127.0.0.1:9/hook").status_code == 201
    assert create(authed_client, "http://10.0.0.5/hook").status_code == 400


def test_an_account_has_a_capped_number_of_endpoints(authed_client: APIClient, settings) -> None:
    settings.WEBHOOK_MAX_ENDPOINTS_PER_ACCOUNT = 2
    assert create(authed_client).status_code == 201
    assert create(authed_client).status_code == 201
    response = create(authed_client)
    assert response.status_code == 400 and "at most 2" in error_of(response)["details"]


def test_another_tenants_endpoint_is_not_found(
    authed_client: APIClient, other_client: APIClient
) -> None:
    theirs = create(other_client).json()
    assert authed_client.get("/v1/webhooks").json() == {"webhooks": []}
    for method, path in [
        ("get", f"/v1/webhooks/{theirs['id']}"),
        ("delete", f"/v1/webhooks/{theirs['id']}"),
        ("get", f"/v1/webhooks/{theirs['id']}/deliveries"),
        ("patch", f"/v1/webhooks/{theirs['id']}"),
        ("post", f"/v1/webhooks/{theirs['id']}/rotate-secret"),
    ]:
        response = getattr(authed_client, method)(path)
        assert response.status_code == 404, path
        assert error_of(response)["code"] == "NOT_FOUND"
    assert other_client.get(f"/v1/webhooks/{theirs['id']}").status_code == 200


def test_deliveries_are_listed_newest_first_and_only_to_their_owner(
    authed_client: APIClient,
    other_client: APIClient,
    account: Account,
    receiver: Receiver,
    django_capture_on_commit_callbacks,
) -> None:
    endpoint_id = create(authed_client, receiver.url).json()["id"]
    tasks = [processing_task(account), processing_task(account)]
    with django_capture_on_commit_callbacks(execute=True):
        for task in tasks:
            task_fail(task_id=task.pk, error=ProcessingError("boom"))
    response = authed_client.get(f"/v1/webhooks/{endpoint_id}/deliveries")
    assert response.status_code == 200
    deliveries = response.json()["deliveries"]
    assert [d["task_id"] for d in deliveries] == [t.public_id for t in reversed(tasks)]
    first = deliveries[0]
    assert first["id"].startswith("msg_") and first["endpoint_id"] == endpoint_id
    assert (first["type"], first["status"], first["attempts"]) == ("task.failed", "pending", 0)
    assert first["payload"]["data"]["error"] == {"code": "PROCESSING_ERROR", "message": "boom"}

    redeliver = f"/v1/webhooks/deliveries/{first['id']}/redeliver"
    assert other_client.post(redeliver).status_code == 404
    response = authed_client.post(redeliver)
    assert response.status_code == 202 and response.json()["id"] == first["id"]


def test_redelivering_an_unknown_delivery_is_not_found(authed_client: APIClient) -> None:
    response = authed_client.post("/v1/webhooks/deliveries/msg_nope/redeliver")
    assert response.status_code == 404 and error_of(response)["code"] == "NOT_FOUND"


def test_the_api_needs_a_key(api_client: APIClient) -> None:
    assert api_client.get("/v1/webhooks").status_code == 401
    assert api_client.post("/v1/webhooks", {"url": PUBLIC_URL}, format="json").status_code == 401


def test_the_operations_are_in_the_openapi_schema(api_client: APIClient) -> None:
    schema = api_client.get(reverse("openapi")).json()
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {
        "webhooks_list",
        "webhooks_create",
        "webhooks_retrieve",
        "webhooks_destroy",
        "webhooks_deliveries_list",
        "webhooks_deliveries_redeliver",
        "webhooks_partial_update",
        "webhooks_rotate_secret",
    } <= operations
    assert "/v1/webhooks/deliveries/{delivery_id}/redeliver" in schema["paths"]


def test_deliveries_of_a_deleted_endpoint_go_with_it(
    authed_client: APIClient,
    account: Account,
    receiver: Receiver,
    django_capture_on_commit_callbacks,
) -> None:
    endpoint_id = create(authed_client, receiver.url).json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        task_fail(task_id=processing_task(account).pk, error=ProcessingError("x"))
    assert WebhookDelivery.objects.for_account(account).count() == 1
    authed_client.delete(f"/v1/webhooks/{endpoint_id}")
    assert WebhookDelivery.objects.for_account(account).count() == 0
