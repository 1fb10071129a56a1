"""/v1 against its own OpenAPI schema (schemathesis): every operation in /v1/openapi.json, with a
real API key and a bounded number of generated requests each. No answer may be a 5xx, and every
answer's status, headers, content type and body must be ones the schema documents.

The app runs in-process (WSGI) on the test database. Only the network edge is replaced: image
URLs are parsed and vetted for real but "fetched" as a small PNG, and every host name resolves
to one public address (tests/imaging and tests/webhooks test those parts for real). Nothing
consumes the queue, so no task would finish: image operations are asked not to wait
(`Prefer: respond-async`) and answer 202; the 200 form is checked in test_openapi.
"""

from __future__ import annotations

import io
import ipaddress
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

from accounts.models import Account
from billing import ratelimit
from billing.models import Plan
from billing.selectors import plan_get
from billing.services import credits_grant, subscription_set_plan
from imaging import inputs

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
    # Enough room that most answers are not 402/429 (both stay documented and possible).
    Plan.objects.filter(code="pro").update(requests_per_minute=100_000, requests_per_day=100_000)
    subscription_set_plan(account=account, plan=plan_get(code="pro"))
    credits_grant(account=account, amount=1_000_000, kind="grant", idempotency_key="schemathesis")
    monkeypatch.setattr(ratelimit, "READS_PER_MINUTE", 100_000)

    png = small_png()

    def fetch(*, url: str, max_bytes: int) -> bytes:
        inputs.outgoing_url_parse(url)  # the real URL checks
        return png

    def resolve(host: str, port: int, deadline: object) -> list:
        return [ipaddress.ip_address("93.184.215.14")]

    monkeypatch.setattr(inputs, "image_fetch", fetch)
    monkeypatch.setattr(inputs, "_resolve", resolve)
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
