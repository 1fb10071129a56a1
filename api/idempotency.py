"""Idempotency-Key on every POST (Stripe's semantics): one key, one effect, one stored answer.

The first request with a key claims it. A key remembers an effect: once a task is submitted its
answer is stored (the 202 at once, then the final answer when the wait ends) and replayed to every
retry with the same parameters for IDEMPOTENCY_KEY_TTL_HOURS; a refused request (4xx, 503) did
nothing, so it releases the key. The same key with other parameters is a 409.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Account
from api.models import IdempotencyKey
from core.errors import IdempotencyConflict, InvalidRequest

IDEMPOTENCY_HEADER = "Idempotency-Key"
# Printable ASCII, no longer than the key column (api.schema.headers documents the same rule).
IDEMPOTENCY_KEY_MAX_LENGTH: int = IdempotencyKey._meta.get_field("key").max_length
IDEMPOTENCY_KEY_PATTERN = rf"^[\x21-\x7e]{{1,{IDEMPOTENCY_KEY_MAX_LENGTH}}}$"
_SANE_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
# A claim whose request never finished (its process died) stops blocking retries after this.
_ABANDONED_AFTER = timedelta(minutes=2)
# Response headers worth replaying.
_KEPT_HEADERS = ("Location",)


@dataclass(frozen=True)
class StoredResponse:
    claim_id: int
    status_code: int
    body: Any
    headers: dict[str, str]


def idempotency_fingerprint(*, method: str, path: str, data: Any) -> str:
    """A digest of what was asked: the parameters, with uploaded files by their content."""
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(json.dumps(_canonical(data), sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _canonical(data: Any) -> Any:
    if hasattr(data, "getlist"):  # a QueryDict (form or multipart)
        return {key: [_canonical(v) for v in data.getlist(key)] for key in data}
    if isinstance(data, dict):
        return {str(key): _canonical(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_canonical(value) for value in data]
    if hasattr(data, "chunks"):  # an uploaded file
        file_digest = hashlib.sha256()
        for chunk in data.chunks():
            file_digest.update(chunk)
        data.seek(0)
        return f"file:{file_digest.hexdigest()}"
    return data


def idempotency_begin(
    *, account: Account, key: str, fingerprint: str
) -> IdempotencyKey | StoredResponse:
    """Claim `key` for this request (returns the claim), or return the answer stored for it.

    Raises IdempotencyConflict when the key was used with other parameters or its first request
    is still being handled.
    """
    if not _SANE_KEY.match(key):
        raise InvalidRequest(
            _("%(header)s must be 1 to %(max_length)d printable ASCII characters")
            % {"header": IDEMPOTENCY_HEADER, "max_length": IDEMPOTENCY_KEY_MAX_LENGTH}
        )
    now = timezone.now()
    expired = now - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    keys = IdempotencyKey.objects.for_account(account)
    for _attempt in range(2):
        try:
            with transaction.atomic():
                return keys.create(account=account, key=key, fingerprint=fingerprint)
        except IntegrityError:
            existing = keys.filter(key=key).first()
        if existing is None:
            continue  # deleted meanwhile: claim it again
        abandoned = existing.status_code is None and existing.created_at < now - _ABANDONED_AFTER
        if existing.created_at < expired or abandoned:
            keys.filter(pk=existing.pk, created_at=existing.created_at).delete()
            continue
        if existing.fingerprint != fingerprint:
            raise IdempotencyConflict(
                _("This Idempotency-Key was already used with different parameters.")
            )
        if existing.status_code is None:
            raise IdempotencyConflict(
                _("A request with this Idempotency-Key is still being processed; retry shortly."),
                headers={"Retry-After": "1"},
            )
        return StoredResponse(
            claim_id=existing.pk,
            status_code=existing.status_code,
            body=existing.response_body,
            headers=existing.response_headers,
        )
    raise IdempotencyConflict(_("This Idempotency-Key is in use; retry shortly."))


def idempotency_store(
    *, claim_id: int, status_code: int, body: Any, headers: dict[str, str] | Any
) -> None:
    """Keep the answer for the claim (overwriting the 202 once the wait has ended)."""
    IdempotencyKey.unscoped_objects.filter(pk=claim_id).update(
        status_code=status_code,
        response_body=body,
        response_headers={name: headers[name] for name in _KEPT_HEADERS if name in headers},
    )


def idempotency_release(*, claim_id: int) -> None:
    """Forget the claim of a request that was refused: it did nothing, so a retry must run."""
    IdempotencyKey.unscoped_objects.filter(pk=claim_id).delete()


def idempotency_keys_purge() -> int:
    """Forget keys older than their time to live; run by beat. Returns how many."""
    expired = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    deleted, _by_model = IdempotencyKey.unscoped_objects.filter(created_at__lt=expired).delete()
    return deleted
