"""Webhooks: the callback URLs an account registers, and the signed deliveries of its task events
(`task.completed`, `task.failed`) with their retries and redelivery.
Details: docs/webhooks.md"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from kombu.exceptions import OperationalError as BrokerError

from accounts.models import Account
from core.errors import InvalidRequest
from core.metrics import WEBHOOK_ATTEMPTS
from core.outgoing import (
    Deadline,
)
from core.prepared import INTEGER_PLACEHOLDER, PreparedLookup
from imaging.models import Task, new_webhook_secret_salt
from imaging.selectors import iso_utc, task_by_pk, task_detail
from webhooks.delivery import (
    USER_AGENT,
    AttemptFailed,
    callback_url_vetted,
    delivery_post,
)
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.selectors import (
    DUE_GRACE,
    webhook_deliveries_due,
    webhook_delivery_get,
    webhook_endpoint_get,
)
from webhooks.signing import (
    message_body,
    webhook_endpoint_signing_secrets,
    webhook_signature_compute,
)

logger = logging.getLogger(__name__)

QUEUE = "celery"  # light I/O: never behind image work on the cpu or gpu queues
MAX_DESCRIPTION_LENGTH = 200
# Longer than an attempt can last (DNS + connect + request all fit in WEBHOOK_TIMEOUT_SECONDS):
# past it, a claimed attempt whose worker died is due again.
ATTEMPT_LEASE_SECONDS = 120

EVENT_TYPES = {
    Task.Status.COMPLETED: WebhookDelivery.EventType.TASK_COMPLETED,
    Task.Status.FAILED: WebhookDelivery.EventType.TASK_FAILED,
}


# --- signing ------------------------------------------------------------------------------------


# --- callback URLs ------------------------------------------------------------------------------


# --- endpoints ----------------------------------------------------------------------------------


def webhook_endpoint_create(
    *, account: Account, url: str, description: str = ""
) -> WebhookEndpoint:
    """Register a callback URL after vetting it like a delivery would (a URL that could never be
    delivered to is refused now, not silently failed later)."""
    deadline = Deadline(float(settings.WEBHOOK_TIMEOUT_SECONDS))
    parsed, _addresses = callback_url_vetted(url, deadline=deadline)
    description = _description_checked(description)
    limit = settings.WEBHOOK_MAX_ENDPOINTS_PER_ACCOUNT
    with transaction.atomic():
        # The account row lock orders concurrent registrations, so the cap holds.
        Account.objects.select_for_update().filter(pk=account.pk).first()
        if WebhookEndpoint.objects.for_account(account).count() >= limit:
            raise InvalidRequest(
                _("An account can have at most %(limit)d webhook endpoints; delete one first.")
                % {"limit": limit}
            )
        return WebhookEndpoint.objects.create(
            account=account, url=str(parsed), description=description
        )


def _description_checked(description: str) -> str:
    description = description.strip()
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidRequest(
            _("description: at most %(limit)d characters.") % {"limit": MAX_DESCRIPTION_LENGTH}
        )
    return description


def webhook_endpoint_update(
    *,
    account: Account,
    public_id: str,
    is_active: bool | None = None,
    description: str | None = None,
) -> WebhookEndpoint:
    """Switch an endpoint on or off, or change its description. Switching it on again clears
    what an automatic disabling recorded."""
    endpoint = webhook_endpoint_get(account=account, public_id=public_id)
    if description is not None:
        endpoint.description = _description_checked(description)
    if is_active is not None:
        endpoint.is_active = is_active
        if is_active:
            endpoint.disabled_reason, endpoint.failing_since = "", None
    endpoint.save(update_fields=["description", "is_active", "disabled_reason", "failing_since"])
    return endpoint


def webhook_endpoint_secret_rotate(*, account: Account, public_id: str) -> WebhookEndpoint:
    """A new signing secret; messages carry a signature with the old one as well for
    WEBHOOK_SECRET_ROTATION_GRACE_SECONDS (a rotation within that time ends the older one)."""
    endpoint = webhook_endpoint_get(account=account, public_id=public_id)
    endpoint.previous_secret_salt = endpoint.secret_salt
    endpoint.secret_salt = new_webhook_secret_salt()
    endpoint.secret_rotated_at = timezone.now()
    endpoint.save(update_fields=["previous_secret_salt", "secret_salt", "secret_rotated_at"])
    return endpoint


def webhook_endpoint_delete(*, account: Account, public_id: str) -> None:
    """Delete an endpoint with its delivery log; attempts already claimed find nothing to send."""
    webhook_endpoint_get(account=account, public_id=public_id).delete()


# --- deliveries: reads --------------------------------------------------------------------------


# --- deliveries: creating and queueing ----------------------------------------------------------


# Every finished task asks (core/prepared.py: compiled once per worker process).
_active_endpoints: PreparedLookup[WebhookEndpoint] = PreparedLookup(
    lambda account_id: (
        WebhookEndpoint.objects.for_account(Account(pk=account_id))
        .filter(is_active=True)
        .order_by("pk")
    ),
    placeholder=INTEGER_PLACEHOLDER,
)


def webhooks_task_finished(*, task_id: int, task: Task | None = None) -> list[WebhookDelivery]:
    """One delivery per active endpoint of the task's account for its completion or failure, each
    queued. Called once the finish is committed (`task`: its row read since, else read here);
    calling it again creates nothing new."""
    if task is None:
        task = task_by_pk(task_id=task_id)
    event_type = EVENT_TYPES.get(task.status) if task is not None else None
    if event_type is None:
        return []
    endpoints = _active_endpoints.all(task.account_id)
    if not endpoints:
        return []
    payload = {
        "type": event_type,
        "timestamp": iso_utc(task.completed_at or timezone.now()),
        "data": task_detail(task=task),
    }
    created = []
    for endpoint in endpoints:
        delivery, is_new = WebhookDelivery.objects.for_account(task.account).get_or_create(
            account=task.account,
            endpoint=endpoint,
            task=task,
            event_type=event_type,
            defaults={"payload": payload, "next_attempt_at": timezone.now()},
        )
        if is_new:
            created.append(delivery)
    for delivery in created:
        transaction.on_commit(lambda pk=delivery.pk: webhook_delivery_enqueue(delivery_id=pk))
    return created


def webhook_delivery_enqueue(*, delivery_id: int, countdown: int | None = None) -> bool:
    """Queue an attempt; a broker that is down is logged, not raised (the sweep queues it later)."""
    from webhooks.tasks import webhook_deliver  # webhooks.tasks imports this module

    try:
        webhook_deliver.apply_async(args=[delivery_id], queue=QUEUE, countdown=countdown)
    except (BrokerError, OSError):
        logger.warning(
            "could not queue webhook delivery %s; the sweep will", delivery_id, exc_info=True
        )
        return False
    return True


def webhook_delivery_redeliver(*, account: Account, public_id: str) -> WebhookDelivery:
    """Send a delivery again from the start of the retry schedule, with the same `webhook-id`
    (receivers that already processed it recognise it)."""
    delivery = webhook_delivery_get(account=account, public_id=public_id)
    if not delivery.endpoint.is_active:
        raise InvalidRequest(_("The endpoint of this delivery is disabled."))
    WebhookDelivery.objects.for_account(account).filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.PENDING,
        attempts=0,
        next_attempt_at=timezone.now(),
        last_status_code=None,
        last_error="",
    )
    transaction.on_commit(lambda: webhook_delivery_enqueue(delivery_id=delivery.pk))
    delivery.refresh_from_db()
    return delivery


def webhooks_sweep(*, now: datetime | None = None) -> int:
    """Queue the deliveries whose message is late or lost (run by beat)."""
    # Due for longer than a sweep interval: a message about to run is left alone, so a healthy
    # queue gets no duplicates (and a duplicate only finds the attempt already claimed).
    overdue = timedelta(seconds=settings.WEBHOOK_SWEEP_SECONDS)
    due = webhook_deliveries_due(now=(now or timezone.now()) - overdue)
    for delivery_id in due:
        webhook_delivery_enqueue(delivery_id=delivery_id)
    return len(due)


def webhook_deliveries_purge(*, now: datetime | None = None) -> int:
    """Delete the delivery log older than IMAGING_FILE_RETENTION_DAYS (finished deliveries only;
    the tasks they describe have lost their images by then). Run by beat; returns how many."""
    days = settings.IMAGING_FILE_RETENTION_DAYS
    if not days:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    old = WebhookDelivery.unscoped_objects.filter(created_at__lt=cutoff).exclude(
        status=WebhookDelivery.Status.PENDING
    )
    return old.delete()[0]


# --- deliveries: attempts -----------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptOutcome:
    """What one call of `webhook_delivery_attempt` did: `status` is the delivery's status after it
    ("skipped": nothing was due, or another attempt owns the row); `retry_in` the seconds until
    the next attempt when one was scheduled."""

    status: str
    retry_in: int | None = None


SKIPPED = AttemptOutcome(status="skipped")


def webhook_delivery_attempt(*, delivery_id: int) -> AttemptOutcome:
    """Make the delivery's next attempt if it is due: POST, record the answer, schedule a retry."""
    delivery = _delivery_claim(delivery_id=delivery_id)
    if delivery is None:
        return SKIPPED
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        return _attempt_record(delivery, status_code=None, error="endpoint disabled", final=True)
    timestamp = int(time.time())
    body = message_body(delivery.payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": delivery.public_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            webhook_signature_compute(
                secret=secret, msg_id=delivery.public_id, timestamp=timestamp, body=body
            )
            for secret in webhook_endpoint_signing_secrets(endpoint=endpoint)
        ),
    }
    status_code = None
    try:
        status_code = delivery_post(url=endpoint.url, body=body, headers=headers)
        error = "" if 200 <= status_code < 300 else f"HTTP {status_code}"
    except AttemptFailed as failure:
        error = str(failure)
    except Exception:
        # Our bug, not the receiver's: logged, and the schedule goes on as for any failure.
        logger.exception("webhook delivery %s crashed", delivery.public_id)
        error = "internal error"
    return _attempt_record(delivery, status_code=status_code, error=error)


def _delivery_claim(*, delivery_id: int) -> WebhookDelivery | None:
    """Take the due attempt: count it and lease the row, in one conditional UPDATE."""
    now = timezone.now()
    max_attempts = len(settings.WEBHOOK_RETRY_DELAYS) + 1
    due = WebhookDelivery.unscoped_objects.filter(
        pk=delivery_id,
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at__lte=now + DUE_GRACE,
    )
    claimed = due.filter(attempts__lt=max_attempts).update(
        attempts=F("attempts") + 1,
        last_attempt_at=now,
        next_attempt_at=now + timedelta(seconds=ATTEMPT_LEASE_SECONDS),
    )
    if not claimed:
        # Due with no attempt left: the worker of the last attempt died before recording it.
        if due.filter(attempts__gte=max_attempts).update(
            status=WebhookDelivery.Status.FAILED, next_attempt_at=None, last_error="worker lost"
        ):
            WEBHOOK_ATTEMPTS.labels(outcome=WebhookDelivery.Status.FAILED).inc()
        return None
    # None when the endpoint (and with it the delivery) was deleted a moment ago.
    return (
        WebhookDelivery.unscoped_objects.select_related("endpoint").filter(pk=delivery_id).first()
    )


def _attempt_record(
    delivery: WebhookDelivery, *, status_code: int | None, error: str, final: bool = False
) -> AttemptOutcome:
    fields: dict = {"last_status_code": status_code, "last_error": error[:300]}
    retry_in = None
    delays = settings.WEBHOOK_RETRY_DELAYS
    if not error:
        fields.update(status=WebhookDelivery.Status.SUCCEEDED, next_attempt_at=None)
    elif final or delivery.attempts > len(delays):
        fields.update(status=WebhookDelivery.Status.FAILED, next_attempt_at=None)
    else:
        retry_in = int(delays[delivery.attempts - 1])
        fields["next_attempt_at"] = timezone.now() + timedelta(seconds=retry_in)
    # Only this attempt's claim is written over: a redelivery meanwhile started a new series.
    recorded = WebhookDelivery.unscoped_objects.filter(
        pk=delivery.pk,
        status=WebhookDelivery.Status.PENDING,
        attempts=delivery.attempts,
        last_attempt_at=delivery.last_attempt_at,
    ).update(**fields)
    if not recorded:
        return SKIPPED
    status = fields.get("status", WebhookDelivery.Status.PENDING)
    WEBHOOK_ATTEMPTS.labels(
        outcome="retrying" if status == WebhookDelivery.Status.PENDING else status
    ).inc()
    if status == WebhookDelivery.Status.SUCCEEDED:
        _endpoint_healthy(endpoint_id=delivery.endpoint_id)
    elif status == WebhookDelivery.Status.FAILED and not final:
        _endpoint_failed(endpoint_id=delivery.endpoint_id, error=fields["last_error"])
    return AttemptOutcome(status=status, retry_in=retry_in)


def _endpoint_healthy(*, endpoint_id: int) -> None:
    WebhookEndpoint.unscoped_objects.filter(pk=endpoint_id, failing_since__isnull=False).update(
        failing_since=None
    )


def _endpoint_failed(*, endpoint_id: int, error: str) -> None:
    """A delivery failed for good (its retries took a day): note since when nothing has got
    through, and switch the endpoint off once that has lasted WEBHOOK_DISABLE_AFTER_DAYS, so a
    dead receiver stops costing attempts. Its owner sees why and switches it back on."""
    now = timezone.now()
    active = WebhookEndpoint.unscoped_objects.filter(pk=endpoint_id, is_active=True)
    active.filter(failing_since__isnull=True).update(failing_since=now)
    days = settings.WEBHOOK_DISABLE_AFTER_DAYS
    if not days:
        return
    reason = (
        f"Switched off on {now:%Y-%m-%d}: every delivery failed for {days} days "
        f"(last error: {error})"
    )[:300]
    if active.filter(failing_since__lte=now - timedelta(days=days)).update(
        is_active=False, disabled_reason=reason
    ):
        logger.warning("webhook endpoint %s switched off: %s", endpoint_id, reason)
