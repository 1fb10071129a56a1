"""Idempotency keys: the stored answer to a POST, replayed when the client retries it."""

from __future__ import annotations

from django.db import models

from accounts.scoping import TenantOwnedModel


class IdempotencyKey(TenantOwnedModel):
    key = models.CharField(max_length=255)
    # sha256 of the method, path and parameters: the same key with other parameters is a conflict.
    fingerprint = models.CharField(max_length=64)
    # Null while the first request is still being handled.
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta(TenantOwnedModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["account", "key"], name="idempotency_key_per_account")
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.status_code or 'in progress'})"
