"""Delivering to a real HTTP receiver: signed Standard Webhooks requests, retries on failure with
the configured backoff, failure after the last attempt, redelivery, the sweep, and the task events
that create deliveries."""

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Account
from core.errors import ProcessingError
from imaging.models import Task
from imaging.selectors import iso_utc, task_by_pk, task_detail
from imaging.services import task_complete, task_fail
from imaging.storage import file_name_from_token
from tests.webhooks.conftest import Receiver, processing_task, spec_signature_valid
from webhooks import services as webhooks
from webhooks import tasks as celery_tasks
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import (
    webhook_deliveries_purge,
    webhook_delivery_attempt,
    webhook_delivery_redeliver,
    webhook_endpoint_create,
    webhook_endpoint_secret_rotate,
    webhook_endpoint_update,
    webhooks_sweep,
    webhooks_task_finished,
)
from webhooks.signing import webhook_endpoint_secret

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int | None]]:
    """What would have been sent to the broker: (delivery id, countdown)."""
    sent: list[tuple[int, int | None]] = []

    def apply_async(args: list, queue: str, countdown: int | None = None) -> None:
        assert queue == "celery"
        sent.append((args[0], countdown))

    monkeypatch.setattr(celery_tasks.webhook_deliver, "apply_async", apply_async)
    return sent


def complete(task: Task) -> None:
    task_complete(
        task_id=task.pk,
        result_files=[],
        description="done",
        seed=7,
        timings={},
        demo=True,
    )


def linked_file(url: str) -> str | None:
    return file_name_from_token(token=url.rstrip("/").rsplit("/", 1)[1])


def delivery_for(account: Account, task: Task) -> WebhookDelivery:
    return WebhookDelivery.objects.for_account(account).get(task=task)


def make_due(delivery: WebhookDelivery) -> None:
    """Time passes: the scheduled retry is due now."""
    WebhookDelivery.unscoped_objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(hours=1)
    )


@pytest.fixture
def failed_task(
    account: Account, endpoint: WebhookEndpoint, django_capture_on_commit_callbacks, queued
) -> Task:
    task = processing_task(account)
    with django_capture_on_commit_callbacks(execute=True):
        task_fail(task_id=task.pk, error=ProcessingError("model exploded"))
    return task


# --- task events create deliveries ---------------------------------------------------------------


def test_completing_a_task_creates_and_queues_one_delivery_per_active_endpoint(
    account: Account,
    endpoint: WebhookEndpoint,
    receiver: Receiver,
    queued: list,
    django_capture_on_commit_callbacks,
) -> None:
    second = webhook_endpoint_create(account=account, url=receiver.url + "/2")
    off = webhook_endpoint_create(account=account, url=receiver.url + "/off")
    WebhookEndpoint.objects.for_account(account).filter(pk=off.pk).update(is_active=False)
    task = processing_task(account)
    with django_capture_on_commit_callbacks(execute=True):
        complete(task)
    deliveries = WebhookDelivery.objects.for_account(account).order_by("endpoint_id")
    assert [d.endpoint_id for d in deliveries] == [endpoint.pk, second.pk]
    assert sorted(queued) == sorted((d.pk, None) for d in deliveries)
    task.refresh_from_db()
    for delivery in deliveries:
        assert (delivery.event_type, delivery.status, delivery.attempts) == (
            "task.completed",
            "pending",
            0,
        )
        assert delivery.payload["type"] == "task.completed"
        assert delivery.payload["data"] == task_detail(task=task)
        assert delivery.payload["data"]["status"] == "completed"
        assert delivery.payload["timestamp"].endswith("Z")


def test_the_workers_completion_sends_the_row_as_stored(
    account: Account, endpoint: WebhookEndpoint, queued: list, django_capture_on_commit_callbacks
) -> None:
    """The worker hands its own copy of the claimed task to the finish (no second read): the
    payload is still the committed row's."""
    task = processing_task(account)
    claimed = task_by_pk(task_id=task.pk)
    with django_capture_on_commit_callbacks(execute=True):
        task_complete(
            task_id=task.pk,
            result_files=["results/x.png"],
            description="done",
            seed=7,
            timings={"total": 0.01},
            demo=True,
            claimed=claimed,
        )
    stored = task_by_pk(task_id=task.pk)
    payload = delivery_for(account, task).payload
    expected = json.loads(json.dumps(task_detail(task=stored)))
    # Result links are freshly encrypted each time they are made: compare the files they name.
    sent, made = payload["data"]["result"].pop("image_url"), expected["result"].pop("image_url")
    assert payload["data"] == expected
    assert linked_file(sent) == linked_file(made) == "results/x.png"
    assert payload["data"]["status"] == "completed"
    assert payload["timestamp"] == iso_utc(stored.completed_at)


def test_failing_a_task_creates_a_task_failed_delivery(account: Account, failed_task: Task) -> None:
    delivery = delivery_for(account, failed_task)
    assert delivery.event_type == "task.failed"
    assert delivery.payload["data"]["error"] == {
        "code": "PROCESSING_ERROR",
        "message": "model exploded",
    }


def test_no_delivery_without_a_finish_or_without_endpoints(
    account: Account, endpoint: WebhookEndpoint, queued: list, django_capture_on_commit_callbacks
) -> None:
    task = processing_task(account)
    with django_capture_on_commit_callbacks(execute=True):
        complete(task)
        complete(task)  # a second finish changes no row
        task_fail(task_id=task.pk, error=ProcessingError("late"))
    assert WebhookDelivery.objects.for_account(account).count() == 1
    assert webhooks_task_finished(task_id=task.pk) == []  # once per event and endpoint
    assert webhooks_task_finished(task_id=processing_task(account).pk) == []  # not finished
    WebhookEndpoint.objects.for_account(account).update(is_active=False)
    with django_capture_on_commit_callbacks(execute=True):
        complete(processing_task(account))
    assert WebhookDelivery.objects.for_account(account).count() == 1


def test_an_unreachable_broker_does_not_break_the_finish(
    account: Account,
    endpoint: WebhookEndpoint,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks,
) -> None:
    from kombu.exceptions import OperationalError

    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(celery_tasks.webhook_deliver, "apply_async", broker_down)
    task = processing_task(account)
    with django_capture_on_commit_callbacks(execute=True):
        complete(task)
    task.refresh_from_db()
    assert task.status == "completed"
    delivery = delivery_for(account, task)
    assert delivery.status == "pending"
    assert webhooks.webhook_deliveries_due() == [delivery.pk]
    # The sweep leaves a just-queued delivery to its message, then takes it as lost.
    assert webhooks_sweep() == 0
    assert webhooks_sweep(now=timezone.now() + timedelta(minutes=2)) == 1


def test_an_error_while_creating_deliveries_does_not_break_the_finish(
    account: Account,
    endpoint: WebhookEndpoint,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks,
) -> None:
    def broken(*, task: Task) -> dict:
        raise RuntimeError("bug")

    monkeypatch.setattr(webhooks, "task_detail", broken)
    task = processing_task(account)
    with django_capture_on_commit_callbacks(execute=True):
        task_fail(task_id=task.pk, error=ProcessingError("x"))
    task.refresh_from_db()
    assert task.status == "failed"


# --- attempts against a real receiver ---------------------------------------------------------


def test_a_delivery_is_posted_signed_to_the_receiver(
    account: Account, endpoint: WebhookEndpoint, receiver: Receiver, failed_task: Task
) -> None:
    delivery = delivery_for(account, failed_task)
    before = int(time.time())
    outcome = webhook_delivery_attempt(delivery_id=delivery.pk)
    assert (outcome.status, outcome.retry_in) == ("succeeded", None)
    [request] = receiver.received
    assert request.signature_valid is True
    assert request.path == "/hooks"
    assert request.headers["webhook-id"] == delivery.public_id
    assert before <= int(request.headers["webhook-timestamp"]) <= time.time() + 1
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "NanoBanana-Webhooks/1"
    assert json.loads(request.body) == delivery.payload
    assert set(json.loads(request.body)) == {"type", "timestamp", "data"}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 200)
    assert delivery.next_attempt_at is None and delivery.last_attempt_at is not None


def test_a_failing_receiver_is_retried_with_backoff_then_succeeds(
    account: Account,
    endpoint: WebhookEndpoint,
    receiver: Receiver,
    failed_task: Task,
    settings,
) -> None:
    settings.WEBHOOK_RETRY_DELAYS = [5, 300]
    receiver.answers = [500]
    delivery = delivery_for(account, failed_task)

    started = timezone.now()
    outcome = webhook_delivery_attempt(delivery_id=delivery.pk)
    assert (outcome.status, outcome.retry_in) == ("pending", 5)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_error == "HTTP 500"
    assert timedelta(seconds=4) < delivery.next_attempt_at - started < timedelta(seconds=7)
    # Not due yet: an early message (or the sweep) does nothing.
    assert webhook_delivery_attempt(delivery_id=delivery.pk).status == "skipped"
    assert len(receiver.received) == 1

    make_due(delivery)
    assert webhook_delivery_attempt(delivery_id=delivery.pk).status == "succeeded"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 2, 200)
    assert delivery.last_error == ""
    first, second = receiver.received
    assert first.signature_valid and second.signature_valid
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.public_id
    assert first.body == second.body  # the same bytes every attempt


def test_the_celery_task_queues_a_soon_retry_and_leaves_a_late_one_to_the_sweep(
    account: Account,
    endpoint: WebhookEndpoint,
    receiver: Receiver,
    failed_task: Task,
    queued: list,
    settings,
) -> None:
    settings.WEBHOOK_RETRY_DELAYS = [5, 3600]
    receiver.answers = [503, 503]
    delivery = delivery_for(account, failed_task)
    queued.clear()
    assert celery_tasks.webhook_deliver(delivery.pk) == "pending"
    assert queued == [(delivery.pk, 5)]
    make_due(delivery)
    assert celery_tasks.webhook_deliver(delivery.pk) == "pending"
    assert queued == [(delivery.pk, 5)]  # an hour away: beat's sweep queues it when due
    make_due(delivery)
    assert webhooks_sweep() == 1 and queued[-1] == (delivery.pk, None)
    assert celery_tasks.webhooks_sweep_due() == 1  # due until attempted


def test_a_delivery_fails_after_the_last_attempt(
    account: Account,
    endpoint: WebhookEndpoint,
    receiver: Receiver,
    failed_task: Task,
    settings,
) -> None:
    settings.WEBHOOK_RETRY_DELAYS = [1, 2, 3]
    receiver.answers = [500, 404, 302, 410]
    delivery = delivery_for(account, failed_task)
    outcomes = []
    for _attempt in range(4):
        make_due(delivery)
        outcomes.append(webhook_delivery_attempt(delivery_id=delivery.pk))
    assert [(o.status, o.retry_in) for o in outcomes] == [
        ("pending", 1),
        ("pending", 2),
        ("pending", 3),
        ("failed", None),
    ]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 4, 410)
    assert delivery.next_attempt_at is None
    make_due(delivery)
    assert webhook_delivery_attempt(delivery_id=delivery.pk).status == "skipped"
    assert len(receiver.received) == 4
    assert webhooks_sweep() == 0


def test_redelivery_starts_a_fresh_series_with_the_same_id(
    account: Account,
    endpoint: WebhookEndpoint,
    receiver: Receiver,
    failed_task: Task,
    queued: list,
    settings,
    django_capture_on_commit_callbacks,
) -> None:
    settings.WEBHOOK_RETRY_DELAYS = []
    receiver.answers = [500]
    delivery = delivery_for(account, failed_task)
    assert webhook_delivery_attempt(delivery_id=delivery.pk).status == "failed"
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        again = webhook_delivery_redeliver(account=account, public_id=delivery.public_id)
    assert (again.status, again.attempts, again.last_status_code) == ("pending", 0, None)
    assert queued == [(delivery.pk, None)]
    assert webhook_delivery_attempt(delivery_id=delivery.pk).status == "succeeded"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 1)
    ids = {r.headers["webhook-id"] for r in receiver.received}
    assert ids == {delivery.public_id} and len(receiver.received) == 2


def test_a_redirect_is_a_failure_and_is_not_followed(
    account: Account, endpoint: WebhookEndpoint, receiver: Receiver, failed_task: Task
) -> None:
    receiver.answers = [307]
    delivery = delivery_for(account, failed_task)
    assert webhook_delivery_attempt(delivery_id=delivery.pk).status == "pending"
    delivery.refresh_from_db()
    assert (delivery.last_status_code, delivery.last_error) == (307, "HTTP 307")
    assert len(receiver.received) == 1


def test_an_unreachable_receiver_is_a_failure_with_a_reason(
    account: Account, endpoint: WebhookEndpoint, failed_task: Task
) -> None:
    delivery = delivery_for(account, failed_task)
    WebhookEndpoint.objects.for_account(account).update(url="http://127.0.0.1:9/closed")
    assert webhook_delivery_attempt(delivery_id=delivery.pk).status == "pending"
    delivery.refresh_from_db()
    assert (delivery.last_status_code, delivery.last_error) == (None, "could not connect")


def test_an_address_that_became_private_is_not_posted_to(
    account: Account, endpoint: WebhookEndpoint, receiver: Receiver, failed_task: Task, settings
) -> None:
    settings.NANOBANANA_FETCH_ALLOW_HOSTS = []  # the name now resolves to a private address
    delivery = delivery_for(account, failed_task)
    assert webhook_delivery_attempt(delivery_id=delivery.pk).status == "pending"
    delivery.refresh_from_db()
    assert delivery.last_error == "The URL points to an address that is not public."
    assert receiver.received == []


def test_a_disabled_endpoint_fails_its_delivery_without_a_request(
    account: Account, endpoint: WebhookEndpoint, receiver: Receiver, failed_task: Task
) -> None:
    WebhookEndpoint.objects.for_account(account).update(is_active=False)
    delivery = delivery_for(account, failed_task)
    assert webhook_delivery_attempt(delivery_id=delivery.pk).status == "failed"
    assert receiver.received == []


def test_an_attempt_whose_worker_died_is_taken_again_after_its_lease(
    account: Account, endpoint: WebhookEndpoint, receiver: Receiver, failed_task: Task, settings
) -> None:
    delivery = delivery_for(account, failed_task)
    assert webhooks._delivery_claim(delivery_id=delivery.pk) is not None  # then the worker died
    assert webhooks_sweep() == 0  # leased: not due
    assert webhook_delivery_attempt(delivery_id=delivery.pk).status == "skipped"
    make_due(delivery)  # the lease ran out
    assert webhook_delivery_attempt(delivery_id=delivery.pk).status == "succeeded"
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and len(receiver.received) == 1

    settings.WEBHOOK_RETRY_DELAYS = []  # one attempt only, and its worker died
    WebhookDelivery.unscoped_objects.filter(pk=delivery.pk).update(status="pending", attempts=0)
    make_due(delivery)
    webhooks._delivery_claim(delivery_id=delivery.pk)
    make_due(delivery)
    assert webhook_delivery_attempt(delivery_id=delivery.pk).status == "skipped"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_error) == ("failed", "worker lost")


def test_the_delivery_log_is_kept_for_the_retention_period(
    account: Account,
    endpoint: WebhookEndpoint,
    settings,
    queued,
    django_capture_on_commit_callbacks,
) -> None:
    settings.IMAGING_FILE_RETENTION_DAYS = 30
    tasks = [processing_task(account) for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        for task in tasks:
            complete(task)
    old_done, old_pending, recent = (delivery_for(account, task) for task in tasks)
    long_ago = timezone.now() - timedelta(days=31)
    WebhookDelivery.unscoped_objects.filter(pk__in=[old_done.pk, old_pending.pk]).update(
        created_at=long_ago
    )
    WebhookDelivery.unscoped_objects.filter(pk__in=[old_done.pk, recent.pk]).update(
        status=WebhookDelivery.Status.SUCCEEDED
    )
    assert webhook_deliveries_purge() == 1
    left = set(WebhookDelivery.objects.for_account(account).values_list("pk", flat=True))
    assert left == {old_pending.pk, recent.pk}  # still retrying, or recent


# --- secret rotation and endpoint health ---------------------------------------------------------


def test_after_a_rotation_messages_carry_both_signatures_for_the_grace_period(
    account: Account, endpoint: WebhookEndpoint, receiver: Receiver, failed_task: Task, settings
) -> None:
    old_secret = webhook_endpoint_secret(endpoint=endpoint)
    endpoint = webhook_endpoint_secret_rotate(account=account, public_id=endpoint.public_id)
    new_secret = webhook_endpoint_secret(endpoint=endpoint)
    assert new_secret != old_secret
    delivery = delivery_for(account, failed_task)
    assert webhook_delivery_attempt(delivery_id=delivery.pk).status == "succeeded"
    [request] = receiver.received
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (old_secret, new_secret):  # a receiver on either secret accepts it
        assert spec_signature_valid(secret=secret, headers=request.headers, body=request.body)

    # Past the grace period only the new secret signs.
    settings.WEBHOOK_SECRET_ROTATION_GRACE_SECONDS = 0
    WebhookDelivery.unscoped_objects.filter(pk=delivery.pk).update(status="pending")
    make_due(delivery)
    assert webhook_delivery_attempt(delivery_id=delivery.pk).status == "succeeded"
    later = receiver.received[-1]
    assert len(later.headers["webhook-signature"].split(" ")) == 1
    assert spec_signature_valid(secret=new_secret, headers=later.headers, body=later.body)
    assert not spec_signature_valid(secret=old_secret, headers=later.headers, body=later.body)


def finished_with_delivery(account: Account, capture) -> Task:
    task = processing_task(account)
    with capture(execute=True):  # deliveries are created once the finish commits
        complete(task)
    return task


def fail_for_good(account: Account, receiver: Receiver, capture) -> None:
    """One more task whose delivery fails on its only attempt."""
    task = finished_with_delivery(account, capture)
    receiver.answers = [500]
    delivery = delivery_for(account, task)
    make_due(delivery)
    assert webhook_delivery_attempt(delivery_id=delivery.pk).status == "failed"


def test_an_endpoint_failing_for_days_is_switched_off_until_its_owner_switches_it_on(
    account: Account,
    endpoint: WebhookEndpoint,
    receiver: Receiver,
    queued,
    settings,
    django_capture_on_commit_callbacks,
) -> None:
    settings.WEBHOOK_RETRY_DELAYS = []  # every failure is final at once
    settings.WEBHOOK_DISABLE_AFTER_DAYS = 3
    fail_for_good(account, receiver, django_capture_on_commit_callbacks)
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.failing_since is not None
    # Two days of failures: still on.
    WebhookEndpoint.unscoped_objects.filter(pk=endpoint.pk).update(
        failing_since=timezone.now() - timedelta(days=2)
    )
    fail_for_good(account, receiver, django_capture_on_commit_callbacks)
    endpoint.refresh_from_db()
    assert endpoint.is_active
    # Three days: switched off, with the reason; later deliveries are not even attempted.
    WebhookEndpoint.unscoped_objects.filter(pk=endpoint.pk).update(
        failing_since=timezone.now() - timedelta(days=3, minutes=1)
    )
    fail_for_good(account, receiver, django_capture_on_commit_callbacks)
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert "every delivery failed for 3 days" in endpoint.disabled_reason
    assert "HTTP 500" in endpoint.disabled_reason

    endpoint = webhook_endpoint_update(
        account=account, public_id=endpoint.public_id, is_active=True
    )
    assert endpoint.is_active and endpoint.disabled_reason == "" and endpoint.failing_since is None


def test_a_success_ends_the_failing_streak(
    account: Account,
    endpoint: WebhookEndpoint,
    receiver: Receiver,
    queued,
    settings,
    django_capture_on_commit_callbacks,
) -> None:
    settings.WEBHOOK_RETRY_DELAYS = []
    fail_for_good(account, receiver, django_capture_on_commit_callbacks)
    task = finished_with_delivery(account, django_capture_on_commit_callbacks)
    assert webhook_delivery_attempt(delivery_id=delivery_for(account, task).pk).status == (
        "succeeded"
    )
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None
