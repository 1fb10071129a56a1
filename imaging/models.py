"""Tasks (one operation on one input) and the batches that group them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from accounts.models import random_base62
from accounts.scoping import TenantOwnedModel
from billing.costs import OPERATION_CHOICES
from billing.models import UsageSpan


def new_task_public_id() -> str:
    return f"task_{random_base62(20)}"


def new_batch_public_id() -> str:
    return f"batch_{random_base62(20)}"


class Batch(TenantOwnedModel):
    public_id = models.CharField(max_length=40, unique=True, default=new_batch_public_id)
    operation = models.CharField(max_length=32, choices=OPERATION_CHOICES)
    total_credits = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name_plural = "batches"

    def __str__(self) -> str:
        return self.public_id


class Task(TenantOwnedModel):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        PROCESSING = "processing", _("Processing")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    class Source(models.TextChoices):
        API = "api", _("API")
        DASHBOARD = "dashboard", _("Dashboard")

    public_id = models.CharField(max_length=40, unique=True, default=new_task_public_id)
    # Where the task came from: an API key's request, or a member in the dashboard.
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.API)
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    batch = models.ForeignKey(
        Batch, null=True, blank=True, on_delete=models.CASCADE, related_name="tasks"
    )
    batch_index = models.PositiveSmallIntegerField(default=0)
    operation = models.CharField(max_length=32, choices=OPERATION_CHOICES)
    params = models.JSONField(default=dict, blank=True)
    # Storage names of the normalized inputs the worker reads (never a client URL).
    input_files = models.JSONField(default=list, blank=True)
    queue = models.CharField(max_length=16)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    progress = models.PositiveSmallIntegerField(default=0)
    result_files = models.JSONField(default=list, blank=True)
    mask_file = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True)
    seed = models.BigIntegerField(null=True, blank=True)
    demo = models.BooleanField(default=False)
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    credits = models.PositiveIntegerField(default=0)
    charge = models.ForeignKey(
        "billing.CreditLedgerEntry",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    # While processing: the worker renews this lease; once it lapses (the worker died) the task
    # is taken over by the next claim or queued again by the sweep (imaging.services).
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # The Celery message id holding the claim: a redelivery of that same message waits for the
    # lease to lapse, any other message for a leased task is a duplicate.
    claimed_by = models.CharField(max_length=64, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Set when retention deleted the stored images (imaging.services.task_files_purge).
    files_deleted = models.BooleanField(default=False)

    class Meta(TenantOwnedModel.Meta):
        indexes = [
            # GET /v1/tasks: one range scan per page, unfiltered or by status or by operation
            # (imaging.selectors.tasks_page); the second also serves counts by status.
            models.Index(fields=["account", "created_at", "id"], name="task_account_created"),
            models.Index(
                fields=["account", "status", "created_at", "id"], name="task_account_status"
            ),
            models.Index(
                fields=["account", "operation", "created_at", "id"], name="task_account_operation"
            ),
            # Retention's scan: finished tasks whose images are still stored, oldest first.
            models.Index(
                fields=["completed_at"],
                condition=Q(files_deleted=False, completed_at__isnull=False),
                name="task_files_kept",
            ),
            # The sweep's scan of running tasks whose worker stopped renewing their lease.
            models.Index(
                fields=["lease_expires_at"],
                condition=Q(status="processing"),
                name="task_lease",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="task_progress_0_100")
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.operation} {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def processing_time(self) -> float | None:
        if self.started_at and self.completed_at:
            return round((self.completed_at - self.started_at).total_seconds(), 2)
        return None


class TaskUsageRollup(TenantOwnedModel):
    """The account's tasks and the credits they spent, per UTC hour and per UTC day, operation
    and origin: what the dashboard's usage chart and spend table add up (imaging.selectors), so
    that 30 days of a busy account are ~2k rows to sum instead of ~500k tasks.

    Kept by PostgreSQL triggers on imaging_task (migration 0009), in the transaction that writes
    the task, whatever writes it (services, `QuerySet.update`, the admin, a key's SET NULL); no
    Python code writes here. Empty on SQLite, whose table rebuilds would drop triggers: there
    the selectors read the tasks themselves."""

    span = models.CharField(max_length=8, choices=UsageSpan.choices)
    start = models.DateTimeField()  # of the UTC hour or day the tasks were created in
    operation = models.CharField(max_length=32, choices=OPERATION_CHOICES)
    source = models.CharField(max_length=16, choices=Task.Source.choices)
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    tasks = models.IntegerField(default=0)
    credits = models.BigIntegerField(default=0)  # spent: a failed or cancelled task's refunded

    class Meta(TenantOwnedModel.Meta):
        constraints = [
            # The triggers' ON CONFLICT target; also the selectors' range scans.
            models.UniqueConstraint(
                F("account"),
                F("span"),
                F("start"),
                F("operation"),
                F("source"),
                Coalesce(F("api_key"), Value(0), output_field=models.BigIntegerField()),
                name="task_usage_rollup_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.span} {self.start:%Y-%m-%d %H:%M} {self.operation} {self.tasks}"


# A task in one of these states never changes again.
FINISHED_STATUSES = frozenset({Task.Status.COMPLETED, Task.Status.FAILED, Task.Status.CANCELLED})


# Defaults of the webhook models (webhooks.models); imaging migrations 0002-0003 name them here.


def new_webhook_endpoint_public_id() -> str:
    return f"we_{random_base62(20)}"


def new_webhook_delivery_public_id() -> str:
    # Standard Webhooks' `webhook-id`: one per event and endpoint, the same on every attempt.
    return f"msg_{random_base62(24)}"


def new_webhook_secret_salt() -> str:
    return random_base62(32)
