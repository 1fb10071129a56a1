"""Arbitrary JSON at every POST and PATCH under /v1, with a real API key: whatever the body (any
JSON value, any nesting, any type in any field), the answer is never a 5xx, a refusal is the
reference's envelope, and a refused request charges nothing and queues nothing.

Only the network edge is replaced, as in test_schemathesis: image URLs are vetted for real but
"fetched" as a small PNG, and every host name resolves to one public address.
"""

from __future__ import annotations

import io
import ipaddress
import json
import re
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from rest_framework.test import APIClient

from accounts.models import Account
from api.parsers import MAX_JSON_DEPTH
from billing import ratelimit
from billing.models import Plan
from billing.selectors import account_billing_summary, plan_get
from billing.services import credits_grant, subscription_set_plan
from core import outgoing
from imaging import inputs
from imaging.models import Task
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db

EXAMPLES_PER_ENDPOINT = 40
BODY_METHODS = ("post", "patch")


def body_endpoints() -> list[tuple[str, str, list[str]]]:
    """(method, path template, JSON field names) of every operation that takes a body, read from
    the served schema so a new endpoint is fuzzed without touching this file."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    found = []
    for path, item in schema["paths"].items():
        for method in BODY_METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            content = operation.get("requestBody", {}).get("content", {})
            ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
            fields = list(components[ref.rsplit("/", 1)[-1]]["properties"]) if ref else []
            found.append((method, path, fields))
    return found


ENDPOINTS = body_endpoints()

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["", " ", "http://", "data:image/png;base64,", "jpeg", "2", "true"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def deeply_nested(draw: st.DrawFn) -> str:
    """JSON text of lists or objects nested around the limit, or far past it (as text: Python's
    own json.dumps could not write the deepest)."""
    depth = draw(st.sampled_from([MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 10_000]))
    opening, closing = draw(st.sampled_from([("[", "]"), ('{"prompt": ', "}")]))
    return opening * depth + json.dumps(draw(scalars)) + closing * depth


def bodies(fields: list[str]) -> st.SearchStrategy[str]:
    """JSON text: any value; the endpoint's own fields with values of any type; deep nesting."""
    with_fields = st.fixed_dictionaries({}, optional={name: json_values for name in fields})
    return (json_values | with_fields).map(json.dumps) | deeply_nested()


def small_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 90, 200)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def world(
    settings: Any, monkeypatch: pytest.MonkeyPatch, account: Account, authed_client: APIClient
) -> dict[str, str]:
    """Room to be accepted (credits, rate limits), no network, and real ids for the paths."""
    settings.API_SYNC_WAIT_SECONDS = 0.1
    settings.IMAGING_GPU_QUEUE_MAX_DEPTH = 0
    settings.WEBHOOK_MAX_ENDPOINTS_PER_ACCOUNT = 100_000
    Plan.objects.filter(code="pro").update(requests_per_minute=100_000, requests_per_day=100_000)
    subscription_set_plan(account=account, plan=plan_get(code="pro"))
    credits_grant(account=account, amount=1_000_000, kind="grant", idempotency_key="fuzz")
    monkeypatch.setattr(ratelimit, "READS_PER_MINUTE", 100_000)
    png = small_png()

    def fetch(*, url: str, max_bytes: int, deadline: object = None) -> bytes:
        inputs.outgoing_url_parse(url)
        return png

    monkeypatch.setattr(inputs, "image_fetch", fetch)
    monkeypatch.setattr(
        outgoing, "_resolve", lambda host, port, deadline: [ipaddress.ip_address("93.184.215.14")]
    )
    endpoint = WebhookEndpoint.objects.create(account=account, url="https://1.1.1.1/hook")
    task = authed_client.post(
        "/v1/text-to-image", {"prompt": "seed task"}, format="json", HTTP_PREFER="respond-async"
    ).json()
    return {
        "endpoint_id": endpoint.public_id,
        "task_id": task["task_id"],
        "delivery_id": "msg_doesnotexist",
    }


def assert_refusal_envelope(response: Any) -> None:
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"success", "error", "request_id"}, body
    assert body["success"] is False
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert body["request_id"] == response["X-Request-ID"]


@pytest.mark.parametrize(
    ("method", "path", "fields"),
    [pytest.param(*endpoint, id=f"{endpoint[0]} {endpoint[1]}") for endpoint in ENDPOINTS],
)
def test_any_json_body_is_answered_without_a_5xx_and_refusals_cost_nothing(
    world: dict[str, str],
    authed_client: APIClient,
    account: Account,
    method: str,
    path: str,
    fields: list[str],
) -> None:
    url = re.sub(r"\{(\w+)\}", lambda match: world[match[1]], path)

    @settings(
        max_examples=EXAMPLES_PER_ENDPOINT,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(body=bodies(fields))
    def check(body: str) -> None:
        balance = account_billing_summary(account=account).balance
        tasks = Task.objects.for_account(account).count()
        response = authed_client.generic(
            method.upper(),
            url,
            body,
            content_type="application/json",
            HTTP_PREFER="respond-async",
        )
        assert response.status_code < 500, (response.status_code, response.content[:500], body)
        if response.status_code >= 400:
            assert_refusal_envelope(response)
            assert account_billing_summary(account=account).balance == balance, body
            assert Task.objects.for_account(account).count() == tasks, body

    check()
