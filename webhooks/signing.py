"""Standard Webhooks signing: the secrets (derived from SECRET_KEY and a per-endpoint salt,
never stored), the message body and its `v1,` signatures, and their verification."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from webhooks.models import WebhookEndpoint

SECRET_PREFIX = "whsec_"  # noqa: S105 (a format prefix, not a secret)


SECRET_CONTEXT = "nanobanana-webhook:"  # noqa: S105 (HMAC domain separation)


SIGNATURE_VERSION = "v1"


# Standard Webhooks' recommended replay window for receivers.
SIGNATURE_TOLERANCE_SECONDS = 300


def webhook_endpoint_secret(*, endpoint: WebhookEndpoint) -> str:
    """The endpoint's signing secret (`whsec_…`), derived, never stored."""
    return _secret_from_salt(endpoint.secret_salt)


def webhook_endpoint_signing_secrets(
    *, endpoint: WebhookEndpoint, now: datetime | None = None
) -> list[str]:
    """The secrets a message is signed with: the current one and, for
    WEBHOOK_SECRET_ROTATION_GRACE_SECONDS after a rotation, the previous one too, so a receiver
    can switch to the new secret at its own pace (Standard Webhooks allows several signatures)."""
    secrets = [webhook_endpoint_secret(endpoint=endpoint)]
    rotated_at = endpoint.secret_rotated_at
    grace = timedelta(seconds=settings.WEBHOOK_SECRET_ROTATION_GRACE_SECONDS)
    in_grace = rotated_at is not None and (now or timezone.now()) < rotated_at + grace
    if endpoint.previous_secret_salt and in_grace:
        secrets.append(_secret_from_salt(endpoint.previous_secret_salt))
    return secrets


def _secret_from_salt(salt: str) -> str:
    digest = hmac.new(
        settings.SECRET_KEY.encode(), (SECRET_CONTEXT + salt).encode(), hashlib.sha256
    ).digest()
    return SECRET_PREFIX + base64.b64encode(digest).decode("ascii")


def webhook_signature_compute(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one message."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def webhook_signature_verify(
    *,
    secret: str,
    msg_id: str,
    timestamp: str,
    signature: str,
    body: bytes,
    now: float | None = None,
    tolerance: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """Whether a received message is ours and recent: any of the space-separated `v1,` signatures
    matches, and the timestamp is within `tolerance` seconds of now (either way)."""
    try:
        sent_at = int(timestamp)
        expected = webhook_signature_compute(
            secret=secret, msg_id=msg_id, timestamp=sent_at, body=body
        )
    except ValueError:  # not a number, or a secret that is not base64 (binascii.Error)
        return False
    if abs((time.time() if now is None else now) - sent_at) > tolerance:
        return False
    expected_mac = expected.partition(",")[2].encode()
    for candidate in signature.split():
        version, _comma, mac = candidate.partition(",")
        if version == SIGNATURE_VERSION and hmac.compare_digest(mac.encode(), expected_mac):
            return True
    return False


def message_body(payload: dict) -> bytes:
    # Sorted keys: jsonb does not keep key order, and every attempt should send the same bytes.
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
