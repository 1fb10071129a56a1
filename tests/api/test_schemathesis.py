"""/v1 against its own OpenAPI schema (schemathesis): every operation in /v1/openapi.json, with a
real API key and a bounded number of generated requests each. No answer may be a 5xx, and every
answer's status, headers, content type and body must be ones the schema documents.

The app runs in-process (WSGI) on the test database. Only the network edge is replaced: image
URLs are parsed and vetted for real but "fetched" as a small PNG, and every host name resolves
to one public address (tests/imaging and tests/webhooks test those parts for real). Nothing
consumes the queue, so no task would finish: image operations are asked not to wait
(`Prefer: respond-async`) and answer 202; the 200 form is checked in test_openapi.

The operations that take a body are also run with schema-valid data only, which must be
accepted: the schema may promise no less than the server enforces. The one refusal allowed is
an image whose bytes are not a usable image (as a URL that cannot be fetched would be).
"""

from __future__ import annotations

import io
import ipaddress
import uuid
from collections.abc import Iterator

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from PIL import Image
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.transport.serialization import Binary

from accounts.models import Account
from billing import ratelimit
from billing.models import Plan
from billing.selectors import plan_get
from billing.services import credits_grant, subscription_set_plan
from core import outgoing
from core.errors import ApplicationError, error_body
from imaging import inputs
from webhooks.models import WebhookEndpoint

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Per operation; with ~16 operations the whole run stays well under a minute on two cores.
MAX_EXAMPLES = 12
STATEFUL_EXAMPLES = 15
# Schema-valid bodies only, for the operations that take one (image POSTs, webhooks).
POSITIVE_EXAMPLES = 15
BODY_OPERATIONS = (
    r"^/v1/(text-to-image|image-edit|batch-edit|remove-background|style-transfer|enhance"
    r"|webhooks(/\{endpoint_id\})?)$"
)
# What a schema-valid request may still be refused for without the schema being wrong: the
# caller's state (credits, limits, a reused Idempotency-Key) or an id that does not exist.
NOT_ABOUT_THE_DATA = {401, 402, 404, 409, 429}


def small_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def api_setup(
    db: None, settings, monkeypatch: pytest.MonkeyPatch, account: Account
) -> Iterator[None]:
    settings.API_SYNC_WAIT_SECONDS = 0.1  # should a request wait after all
    settings.IMAGING_GPU_QUEUE_MAX_DEPTH = 0
    # Room for every webhook a run registers: a cap reached midway would answer differently
    # when hypothesis replays a sequence.
    settings.WEBHOOK_MAX_ENDPOINTS_PER_ACCOUNT = 100_000
    # Enough room that most answers are not 402/429 (both stay documented and possible).
    Plan.objects.filter(code="pro").update(requests_per_minute=100_000, requests_per_day=100_000)
    subscription_set_plan(account=account, plan=plan_get(code="pro"))
    credits_grant(account=account, amount=1_000_000, kind="grant", idempotency_key="schemathesis")
    monkeypatch.setattr(ratelimit, "READS_PER_MINUTE", 100_000)

    png = small_png()

    def fetch(*, url: str, max_bytes: int, deadline: object = None) -> bytes:
        inputs.outgoing_url_parse(url)  # the real URL checks
        return png

    def resolve(host: str, port: int, deadline: object) -> list:
        return [ipaddress.ip_address("93.184.215.14")]

    monkeypatch.setattr(inputs, "image_fetch", fetch)
    monkeypatch.setattr(outgoing, "_resolve", resolve)
    # As Django's test client does: a request must not close the connection that holds the
    # test's transaction (PostgreSQL would see "the connection is closed").
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def call_headers(raw_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw_key}", "Prefer": "respond-async"}


# Loaded while the module is collected, so schemathesis parametrizes one test per operation
# (new endpoints are tested without touching this file); the schema view needs no database.
# (`schemathesis.pytest.from_fixture` would load it lazily, but 4.32 reads `Node._nodeid`, which
# pytest 9.2 no longer has.)
schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", WSGIHandler())


@schema.parametrize()
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_every_operation_answers_as_documented(
    case: schemathesis.Case, api_setup: None, raw_key: str
) -> None:
    case.call_and_validate(headers=call_headers(raw_key), checks=CHECKS)


def test_sequences_following_the_schema_links_answer_as_documented(
    api_setup: None, raw_key: str
) -> None:
    """Calls chained by the schema's links (an image operation's task_id into GET and cancel,
    a batch into GET /v1/batch/…, a webhook into its pages), so those answer with real ids."""

    class Machine(schema.as_state_machine()):
        def get_call_kwargs(self, case: schemathesis.Case) -> dict:
            return {"headers": call_headers(raw_key)}

        def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    Machine.run(
        settings=hypothesis_settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=6,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
    )


# --- Schema-valid requests are accepted -----------------------------------------------------------


@pytest.fixture
def image_refusals(monkeypatch: pytest.MonkeyPatch) -> list[ApplicationError]:
    """What the image loader refused because of the image's bytes (not an image, a shape no
    operation takes): the only refusal a schema cannot rule out, like a URL that cannot be
    fetched. Every URL here fetches a PNG, so only data URLs and uploads end up here."""
    refusals: list[ApplicationError] = []
    for name in ("image_decode", "image_shape_check"):
        original = getattr(inputs, name)

        def recorded(*args, _original=original, **kwargs):
            try:
                return _original(*args, **kwargs)
            except ApplicationError as refusal:
                refusals.append(refusal)
                raise

        monkeypatch.setattr(inputs, name, recorded)
    return refusals


def schema_valid_data_accepted(
    response: schemathesis.Response, case: schemathesis.Case, refusals: list[ApplicationError]
) -> None:
    """Schemathesis' positive-data check, allowing only what the schema cannot say."""
    assert case.meta is not None and case.meta.generation.mode.is_positive
    status = response.status_code
    if status < 400 or status in NOT_ABOUT_THE_DATA:
        return
    if refusals and response.json() == {**error_body(refusals[-1]), "request_id": ANY_ID}:
        return
    raise AssertionError(
        f"The schema allows this request but it was refused with {status}: "
        f"{response.text}\n{case.as_curl_command()}"
    )


class _AnyId(str):
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str)

    __hash__ = str.__hash__


ANY_ID = _AnyId()

positive_schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", WSGIHandler()).include(
    path_regex=BODY_OPERATIONS, method=["POST", "PATCH"]
)
# No NUL characters: schemathesis 4.32 can put a bare "\x00" in a multipart text field although
# the field's pattern refuses it (seen for image-edit's prompt); that the schema and the server
# both refuse NUL is tested in test_schema_constraints.py.
positive_schema.config.generation.update(modes=["positive"], allow_x00=False)


@positive_schema.hook
def map_body(context: object, body: object) -> object:
    """An empty upload becomes a PNG: Werkzeug (the WSGI transport) encodes an empty file part
    without the line break that ends it, so Django never sees the file; a real empty upload is
    refused as "The image is empty." (test_operations)."""
    if isinstance(body, dict):
        return {
            name: Binary(small_png()) if isinstance(value, Binary) and not value.data else value
            for name, value in body.items()
        }
    return body


@positive_schema.parametrize()
@hypothesis_settings(
    max_examples=POSITIVE_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_every_request_the_schema_allows_is_accepted(
    case: schemathesis.Case,
    api_setup: None,
    raw_key: str,
    account: Account,
    image_refusals: list[ApplicationError],
) -> None:
    """On the largest plan (the schema states its limits: 20 images a batch) the only 4xx left
    are those the schema cannot rule out."""
    subscription_set_plan(account=account, plan=plan_get(code="max"))
    Plan.objects.filter(code="max").update(requests_per_minute=100_000, requests_per_day=100_000)
    if case.path_parameters and "endpoint_id" in case.path_parameters:
        endpoint = WebhookEndpoint.objects.create(account=account, url="https://1.1.1.1/hook")
        case.path_parameters["endpoint_id"] = endpoint.public_id  # past the 404, to the body
    image_refusals.clear()
    # A fresh key each call: the generated ones repeat, and a reused key is a 409 before the
    # body is looked at.
    headers = {**call_headers(raw_key), "Idempotency-Key": uuid.uuid4().hex}
    response = case.call(headers=headers)
    case.validate_response(response, checks=CHECKS)
    schema_valid_data_accepted(response, case, image_refusals)
