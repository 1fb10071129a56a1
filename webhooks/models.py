"""Webhook endpoints of an account and the deliveries of task events to them."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.scoping import TenantOwnedModel
from imaging.models import (
    Task,
    new_webhook_delivery_public_id,
    new_webhook_endpoint_public_id,
    new_webhook_secret_salt,
)


class WebhookEndpoint(TenantOwnedModel):
    """A callback URL of an account; its signing secret is derived from SECRET_KEY and the salt,
    so the table alone never reveals a secret (a new salt is a new secret)."""

    public_id = models.CharField(max_length=40, unique=True, default=new_webhook_endpoint_public_id)
    url = models.CharField(max_length=2048)
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    # Why it was switched off when we did it (deliveries failing for days); empty otherwise.
    disabled_reason = models.CharField(max_length=300, blank=True)
    # Since when every delivery has failed for good (no success since); null while healthy.
    failing_since = models.DateTimeField(null=True, blank=True)
    secret_salt = models.CharField(max_length=64, default=new_webhook_secret_salt)
    # The salt before the last rotation: messages carry both signatures for a while after it.
    previous_secret_salt = models.CharField(max_length=64, blank=True)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        db_table = "imaging_webhookendpoint"  # created by the imaging app; no data moved
        indexes = [models.Index(fields=["account", "created_at"])]

    def __str__(self) -> str:
        return f"{self.public_id} {self.url}"


class WebhookDelivery(TenantOwnedModel):
    """One event for one endpoint (a Standard Webhooks message) and the state of its attempts."""

    class EventType(models.TextChoices):
        TASK_COMPLETED = "task.completed", _("Task completed")
        TASK_FAILED = "task.failed", _("Task failed")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    public_id = models.CharField(max_length=40, unique=True, default=new_webhook_delivery_public_id)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="+")
    event_type = models.CharField(max_length=32, choices=EventType.choices)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # While pending: when the next attempt is due (or, during an attempt, when its lease ends).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        db_table = "imaging_webhookdelivery"
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["endpoint", "-created_at"]),
            # The sweep's scan: only pending rows are ever due.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="webhook_delivery_due",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "task", "event_type"], name="webhook_delivery_once_per_event"
            )
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.event_type} {self.status}"
