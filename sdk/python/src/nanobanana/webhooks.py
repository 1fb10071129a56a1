"""Verifying the webhooks Nano Banana sends (Standard Webhooks: https://www.standardwebhooks.com).

Each message carries `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`:
space-separated `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, one per signing secret
(two for 24 hours after a rotation). The key is the base64 part of the endpoint's `whsec_…`
secret. Verify the raw body, before parsing it.

    from nanobanana import webhooks

    event = webhooks.verify(request.body, request.headers, secret)   # raises if forged or stale
    if event.type == "task.completed":
        print(event.data.result.image_url)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from ._exceptions import WebhookVerificationError
from ._models import WebhookEvent

__all__ = ["DEFAULT_TOLERANCE", "WebhookVerificationError", "sign", "verify"]

SECRET_PREFIX = "whsec_"  # noqa: S105 (a format prefix, not a secret)
# Standard Webhooks' recommended replay window (seconds, either way).
DEFAULT_TOLERANCE = 300


def _header(headers: Mapping[str, str] | Any, name: str) -> str:
    getter = getattr(headers, "get", None)
    value = getter(name) if getter else None
    if value is None and isinstance(headers, Mapping):  # a plain dict with other casing
        value = next((v for k, v in headers.items() if str(k).lower() == name), None)
    if value is None:
        raise WebhookVerificationError(f"missing {name} header")
    return str(value)


def _key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError("the secret is not a whsec_… signing secret") from None


def sign(payload: bytes | str, *, secret: str, msg_id: str, timestamp: int) -> str:
    """The `webhook-signature` value for a message (for tests of your receiver)."""
    body = payload.encode() if isinstance(payload, str) else payload
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode("ascii")


def verify(
    payload: bytes | str,
    headers: Mapping[str, str] | Any,
    secret: str | list[str],
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> WebhookEvent:
    """The message's event when a `v1,` signature matches `secret` (or one of several secrets)
    and its timestamp is within `tolerance` seconds of now; else WebhookVerificationError.
    `headers` may be a dict, `httpx.Headers`, a Django/Flask request's headers..."""
    body = payload.encode() if isinstance(payload, str) else bytes(payload)
    msg_id = _header(headers, "webhook-id")
    timestamp_text = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature").split()
    try:
        timestamp = int(timestamp_text)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a number") from None
    current = time.time() if now is None else now
    if timestamp < current - tolerance:
        raise WebhookVerificationError("the message is too old (a replay?)")
    if timestamp > current + tolerance:
        raise WebhookVerificationError("the message's timestamp is in the future")
    secrets = [secret] if isinstance(secret, str) else list(secret)
    expected = {
        sign(body, secret=s, msg_id=msg_id, timestamp=timestamp).partition(",")[2] for s in secrets
    }
    for candidate in signatures:
        version, _comma, mac = candidate.partition(",")
        if version == "v1" and any(hmac.compare_digest(mac, e) for e in expected):
            try:
                return WebhookEvent(json.loads(body))
            except ValueError:
                raise WebhookVerificationError("the body is not JSON") from None
    raise WebhookVerificationError("no matching signature")
