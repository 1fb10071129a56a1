"""Bodies no endpoint can use (nested past the limit, or JSON that is not an object) are 400
INVALID_REQUEST in the envelope on every POST and PATCH, refused before the rate limit, the
Idempotency-Key and any charge."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import Account
from api.parsers import MAX_JSON_DEPTH
from billing.selectors import account_billing_summary
from imaging.models import Task
from tests.api.test_errors import assert_envelope
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db

IMAGE_POSTS = [
    "/v1/text-to-image",
    "/v1/image-edit",
    "/v1/batch-edit",
    "/v1/remove-background",
    "/v1/style-transfer",
    "/v1/enhance",
]
ASYNC = {"HTTP_PREFER": "respond-async"}
T2I = '{"prompt": "a red panda", "width": 512, "height": 512}'
NOT_OBJECTS = ["[1, 2, 3]", '"hello"', "null", "42", "true", "[]"]


def nested_array(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_in_field(depth: int) -> str:
    """`{"prompt": {"a": {"a": … 1}}}`: `depth` levels, the outer object included."""
    return '{"prompt": ' + '{"a": ' * (depth - 1) + "1" + "}" * depth


@pytest.fixture
def endpoint(account: Account) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(account=account, url="https://1.1.1.1/hook")


def send(client: APIClient, method: str, path: str, body: str, **headers: str):
    return getattr(client, method)(path, data=body, content_type="application/json", **headers)


def every_body_endpoint(endpoint: WebhookEndpoint) -> list[tuple[str, str]]:
    return [
        *(("post", path) for path in IMAGE_POSTS),
        ("post", "/v1/webhooks"),
        ("patch", f"/v1/webhooks/{endpoint.public_id}"),
    ]


@pytest.mark.parametrize("body", [nested_array(10_000), nested_in_field(10_000)])
def test_json_nested_ten_thousand_levels_is_a_400_not_a_500(
    authed_client: APIClient, endpoint: WebhookEndpoint, body: str
) -> None:
    for method, path in every_body_endpoint(endpoint):
        response = send(authed_client, method, path, body, **ASYNC)
        envelope = assert_envelope(response, 400, "INVALID_REQUEST")
        assert str(MAX_JSON_DEPTH) in envelope["error"]["details"], (method, path)


def test_nesting_is_refused_just_past_the_limit_and_not_at_it(authed_client: APIClient) -> None:
    too_deep = send(authed_client, "post", "/v1/text-to-image", nested_in_field(MAX_JSON_DEPTH + 1))
    assert (
        str(MAX_JSON_DEPTH) in assert_envelope(too_deep, 400, "INVALID_REQUEST")["error"]["details"]
    )
    at_limit = send(authed_client, "post", "/v1/text-to-image", nested_in_field(MAX_JSON_DEPTH))
    # Parsed: the serializer judges the field (the nesting is not what is wrong).
    assert assert_envelope(at_limit, 400, "INVALID_REQUEST")["error"]["details"].startswith(
        "prompt:"
    )


def test_deep_json_with_an_idempotency_key_is_a_400_and_frees_the_key(
    authed_client: APIClient, account: Account
) -> None:
    """Deep enough to parse but too deep for a recursive walk such as the key's fingerprint."""
    key = {"HTTP_IDEMPOTENCY_KEY": "deep-1"}
    body = nested_in_field(900)
    response = send(authed_client, "post", "/v1/text-to-image", body, **key, **ASYNC)
    assert_envelope(response, 400, "INVALID_REQUEST")
    retry = send(authed_client, "post", "/v1/text-to-image", T2I, **key, **ASYNC)
    assert retry.status_code == 202  # the key was not claimed by the refused request


@pytest.mark.parametrize("body", NOT_OBJECTS)
def test_json_that_is_not_an_object_is_a_400_naming_the_problem(
    authed_client: APIClient, endpoint: WebhookEndpoint, body: str
) -> None:
    for method, path in every_body_endpoint(endpoint):
        response = send(authed_client, method, path, body, **ASYNC)
        envelope = assert_envelope(response, 400, "INVALID_REQUEST")
        assert envelope["error"]["details"] == "The request body must be a JSON object.", path


def test_the_not_an_object_refusal_is_translated(authed_client: APIClient) -> None:
    response = send(
        authed_client, "post", "/v1/text-to-image", "[1, 2, 3]", HTTP_ACCEPT_LANGUAGE="zh-Hans"
    )
    details = assert_envelope(response, 400, "INVALID_REQUEST")["error"]["details"]
    assert details != "The request body must be a JSON object."  # needs the zh-Hans catalogue


@pytest.mark.parametrize("body", ["[1, 2, 3]", '"hello"', "null", nested_array(10_000)])
def test_refused_bodies_use_no_rate_limit_slot_and_no_credit(
    authed_client: APIClient, account: Account, body: str
) -> None:
    """The free plan allows 2 image requests a minute: 3 refused bodies leave both free."""
    balance = account_billing_summary(account=account).balance
    for path in IMAGE_POSTS[:3]:
        assert send(authed_client, "post", path, body, **ASYNC).status_code == 400
    assert account_billing_summary(account=account).balance == balance
    assert not Task.objects.for_account(account).exists()
    accepted = send(authed_client, "post", "/v1/text-to-image", T2I, **ASYNC)
    assert accepted.status_code == 202
    assert '"minute";r=1;' in accepted["RateLimit"]


def test_an_unparseable_body_uses_no_rate_limit_slot(authed_client: APIClient) -> None:
    for _attempt in range(3):
        response = send(authed_client, "post", "/v1/text-to-image", '{"prompt": "unterminated')
        assert_envelope(response, 400, "INVALID_REQUEST")
    accepted = send(authed_client, "post", "/v1/text-to-image", T2I, **ASYNC)
    assert accepted.status_code == 202
