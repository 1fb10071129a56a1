"""Signatures are Standard Webhooks signatures: the spec's own example, an independent check, and
verification that rejects tampering, other secrets and stale timestamps."""

import base64
import time

import pytest

from accounts.models import Account
from tests.webhooks.conftest import spec_signature_valid
from webhooks.models import WebhookEndpoint
from webhooks.services import webhook_endpoint_create
from webhooks.signing import (
    webhook_endpoint_secret,
    webhook_signature_compute,
    webhook_signature_verify,
)

# The example published with the Standard Webhooks / Svix reference libraries.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_signature_matches_the_specs_published_example() -> None:
    signature = webhook_signature_compute(
        secret=SPEC_SECRET, msg_id=SPEC_ID, timestamp=SPEC_TIMESTAMP, body=SPEC_BODY
    )
    assert signature == SPEC_SIGNATURE


def test_the_signature_passes_an_independent_implementation_of_the_spec() -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    body = '{"type":"task.completed","data":{"description":"海滩"}}'.encode()
    signature = webhook_signature_compute(secret=secret, msg_id="msg_1", timestamp=1700, body=body)
    headers = {"webhook-id": "msg_1", "webhook-timestamp": "1700", "webhook-signature": signature}
    assert spec_signature_valid(secret=secret, headers=headers, body=body)


def verify(**changes: object) -> bool:
    args = {
        "secret": SPEC_SECRET,
        "msg_id": SPEC_ID,
        "timestamp": str(SPEC_TIMESTAMP),
        "signature": SPEC_SIGNATURE,
        "body": SPEC_BODY,
        "now": SPEC_TIMESTAMP + 10,
    } | changes
    return webhook_signature_verify(**args)


def test_verification_round_trips() -> None:
    assert verify()
    now = int(time.time())
    body = b'{"a":1}'
    signature = webhook_signature_compute(
        secret=SPEC_SECRET, msg_id="msg_x", timestamp=now, body=body
    )
    assert webhook_signature_verify(
        secret=SPEC_SECRET, msg_id="msg_x", timestamp=str(now), signature=signature, body=body
    )


def test_verification_accepts_one_good_signature_among_several() -> None:
    assert verify(signature=f"v1,AAAA v2,whatever {SPEC_SIGNATURE}")


@pytest.mark.parametrize(
    "changes",
    [
        {"body": b'{"test": 2432232315}'},
        {"msg_id": "msg_p5jXN8AQM9LWM0D4loKWxJeK"},
        {"timestamp": str(SPEC_TIMESTAMP + 1), "now": SPEC_TIMESTAMP + 1},
        {"secret": "whsec_" + base64.b64encode(b"x" * 24).decode()},
        {"signature": SPEC_SIGNATURE.replace("v1,", "v2,")},
        {"signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE"},
        {"signature": ""},
        {"timestamp": "soon"},
        {"secret": "whsec_not base64!"},
    ],
    ids=[
        "body",
        "id",
        "timestamp",
        "secret",
        "version",
        "truncated",
        "empty",
        "not-a-number",
        "bad-secret",
    ],
)
def test_verification_rejects_tampering(changes: dict) -> None:
    assert not verify(**changes)


def test_verification_rejects_timestamps_outside_five_minutes() -> None:
    assert verify(now=SPEC_TIMESTAMP + 300) and verify(now=SPEC_TIMESTAMP - 300)
    assert not verify(now=SPEC_TIMESTAMP + 301)
    assert not verify(now=SPEC_TIMESTAMP - 301)


@pytest.mark.django_db
def test_secrets_are_derived_not_stored_and_differ_per_endpoint(account: Account, settings) -> None:
    settings.NANOBANANA_FETCH_ALLOW_HOSTS = ["127.0.0.1"]
    first = webhook_endpoint_create(account=account, url="http://127.0.0.1:9/a")
    second = webhook_endpoint_create(account=account, url="http://127.0.0.1:9/b")
    secret = webhook_endpoint_secret(endpoint=first)
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    assert secret != webhook_endpoint_secret(endpoint=second)
    stored = WebhookEndpoint.objects.for_account(account).filter(pk=first.pk).values().get()
    assert secret not in str(stored) and secret[6:] not in str(stored)
    assert webhook_endpoint_secret(endpoint=first) == secret  # stable
    settings.SECRET_KEY = "another-" + settings.SECRET_KEY
    assert webhook_endpoint_secret(endpoint=first) != secret  # nothing without SECRET_KEY
