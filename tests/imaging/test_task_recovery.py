"""Nothing stuck: a running task holds a lease its worker renews; a task whose worker died is
taken over or queued again within about a lease, and tasks whose message the broker lost run."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from kombu import Exchange, Queue
from PIL import Image

from accounts.models import Account
from billing.models import CreditLedgerEntry
from billing.selectors import account_billing_summary, plan_get
from billing.services import subscription_set_plan
from config.celery import app as celery_app
from core.errors import ProcessingError
from core.operations import Operation
from imaging.broker import MARKER_QUEUE, TASK_QUEUES, broker_lost_messages, broker_marker_set
from imaging.models import Task
from imaging.runner import PROGRESS_SECONDS, LeaseKeeper
from imaging.selectors import tasks_waiting
from imaging.services import (
    ClaimResult,
    TaskInput,
    task_cancel,
    task_claim,
    task_fail,
    task_submit,
    tasks_sweep,
)

pytestmark = pytest.mark.django_db
# The lease keeper renews from a thread with its own connection, which sees only committed rows;
# serialized_rollback keeps the seeded plans through the flush after such a test.
threaded = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def submit(account: Account) -> Task:
    image = Image.new("RGB", (32, 24), (200, 120, 40))
    return task_submit(
        account=account,
        operation=Operation.ENHANCE,
        task_input=TaskInput(params={}, images=(image,)),
    )


def lease_lapse(task: Task) -> None:
    """What a dead worker leaves behind: a processing task nobody renews."""
    Task.unscoped_objects.filter(pk=task.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )


def balance(account: Account) -> int:
    return account_billing_summary(account=account).balance


def queued(queue: str) -> int:
    """Messages waiting in one of the broker's task queues."""
    with celery_app.connection_for_write() as connection:
        channel = connection.default_channel
        declared = Queue(queue, Exchange(queue), routing_key=queue)(channel)
        return declared.queue_declare(passive=False).message_count


def broker_forget() -> None:
    """What a Redis restarted without persistence does: every queue, the marker's too, empty."""
    with celery_app.connection_for_write() as connection:
        channel = connection.default_channel
        for name in (*TASK_QUEUES, MARKER_QUEUE):
            Queue(name, Exchange(name), routing_key=name)(channel).purge()


def test_a_claim_takes_a_lease_and_records_its_message(account: Account, settings) -> None:
    settings.IMAGING_TASK_LEASE_SECONDS = 30
    task = submit(account)
    before = timezone.now()
    assert task_claim(task_id=task.pk, claim_id="msg-1") == ClaimResult.CLAIMED
    task.refresh_from_db()
    assert task.claimed_by == "msg-1"
    assert before + timedelta(seconds=29) < task.lease_expires_at < before + timedelta(seconds=31)


def test_the_same_message_redelivered_waits_for_the_lease_and_others_are_dropped(
    account: Account,
) -> None:
    task = submit(account)
    assert task_claim(task_id=task.pk, claim_id="msg-1") == ClaimResult.CLAIMED
    # The worker was killed and the message came back (acks_late): wait, do not drop it...
    assert task_claim(task_id=task.pk, claim_id="msg-1") == ClaimResult.LEASED
    # ...while a second message for the same task is a duplicate.
    assert task_claim(task_id=task.pk, claim_id="msg-2") == ClaimResult.GONE
    lease_lapse(task)
    assert task_claim(task_id=task.pk, claim_id="msg-1") == ClaimResult.CLAIMED
    task.refresh_from_db()
    assert (task.status, task.attempts) == (Task.Status.PROCESSING, 2)


@threaded
def test_a_live_worker_keeps_its_lease_and_learns_when_it_lost_it(
    account: Account, settings
) -> None:
    settings.IMAGING_TASK_LEASE_SECONDS = 0.6
    settings.IMAGING_TASK_LEASE_RENEW_SECONDS = 0.1
    task = submit(account)
    assert task_claim(task_id=task.pk, claim_id="msg-1") == ClaimResult.CLAIMED
    with LeaseKeeper(task_id=task.pk, claim_id="msg-1") as lease:
        time.sleep(1.2)  # twice the lease: only renewals keep it
        assert task_claim(task_id=task.pk, claim_id="msg-2") == ClaimResult.GONE
        assert not lease.lost
        # Another claim takes the task over (as after this worker stalled past its lease).
        lease_lapse(task)
        assert task_claim(task_id=task.pk, claim_id="msg-2") == ClaimResult.CLAIMED
        # Its next renewal finds the claim gone: within a few renew intervals, however loaded
        # the machine is.
        deadline = time.monotonic() + 5
        while not lease.lost and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lease.lost


def progress_of(task: Task) -> int:
    task.refresh_from_db(fields=["progress"])
    return task.progress


@threaded
def test_the_lease_thread_writes_the_last_reported_progress_even_while_the_engine_is_silent(
    account: Account,
) -> None:
    task = submit(account)
    assert task_claim(task_id=task.pk, claim_id="msg-1") == ClaimResult.CLAIMED
    with LeaseKeeper(task_id=task.pk, claim_id="msg-1") as lease:
        lease.progress(5)
        lease.progress(70)  # then nothing for a while, as during a long engine step
        deadline = time.monotonic() + 5
        while progress_of(task) != 70 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert progress_of(task) == 70
        # A stalled worker's progress does not overwrite the claim that took its task over.
        lease_lapse(task)
        assert task_claim(task_id=task.pk, claim_id="msg-2") == ClaimResult.CLAIMED
        lease.progress(90)
        time.sleep(3 * PROGRESS_SECONDS)
    assert progress_of(task) == 0


@threaded
def test_a_task_shorter_than_the_progress_interval_writes_no_progress(account: Account) -> None:
    task = submit(account)
    task_claim(task_id=task.pk, claim_id="msg-1")
    with LeaseKeeper(task_id=task.pk, claim_id="msg-1") as lease:
        lease.progress(50)
    assert progress_of(task) == 0


def test_the_sweep_queues_a_task_whose_worker_died_then_fails_it_after_its_last_attempt(
    account: Account,
) -> None:
    task = submit(account)
    broker_marker_set()  # the broker holds its messages: only the lapsed lease is at stake
    for attempt in range(1, 4):
        assert task_claim(task_id=task.pk, claim_id=f"msg-{attempt}") == ClaimResult.CLAIMED
        lease_lapse(task)
        waiting = queued("cpu")
        assert tasks_sweep() == 1
        task.refresh_from_db()
        if attempt < 3:
            assert (task.status, task.progress, task.lease_expires_at) == ("pending", 0, None)
            assert queued("cpu") == waiting + 1  # a fresh message, so a worker runs it again
    assert (task.status, task.attempts, task.error_code) == ("failed", 3, "PROCESSING_ERROR")
    assert balance(account) == 50


def test_the_sweep_leaves_running_and_pending_tasks_alone(account: Account) -> None:
    subscription_set_plan(account=account, plan=plan_get(code="pro"))
    running, pending = submit(account), submit(account)
    task_claim(task_id=running.pk, claim_id="msg-1")
    broker_marker_set()
    assert tasks_sweep() == 0
    running.refresh_from_db()
    pending.refresh_from_db()
    assert (running.status, pending.status) == ("processing", "pending")


def test_pending_tasks_are_queued_again_when_the_broker_lost_its_messages(
    account: Account,
) -> None:
    subscription_set_plan(account=account, plan=plan_get(code="pro"))
    tasks = [submit(account) for _ in range(3)]
    broker_marker_set()
    assert not broker_lost_messages()
    broker_forget()
    assert broker_lost_messages() and queued("cpu") == 0
    assert tasks_sweep() == 3
    assert queued("cpu") == 3 and not broker_lost_messages()
    assert tasks_sweep() == 0  # the marker is back: nothing is queued twice
    # Each task still runs once: the first message claims it, the duplicate finds it taken.
    assert task_claim(task_id=tasks[0].pk, claim_id="a") == ClaimResult.CLAIMED
    assert task_claim(task_id=tasks[0].pk, claim_id="b") == ClaimResult.GONE


def test_a_stalled_task_is_cancelled_and_refunded_by_its_owner(account: Account) -> None:
    task = submit(account)
    task_claim(task_id=task.pk, claim_id="msg-1")
    assert task_cancel(account=account, public_id=task.public_id).status == "processing"
    lease_lapse(task)
    assert task_cancel(account=account, public_id=task.public_id).status == "cancelled"
    assert balance(account) == 50
    refunds = CreditLedgerEntry.objects.for_account(account).filter(kind="refund")
    assert refunds.count() == 1


@threaded
def test_staff_cancel_even_a_live_task_and_its_worker_stops(account: Account) -> None:
    task = submit(account)
    task_claim(task_id=task.pk, claim_id="msg-1")
    cancelled = task_cancel(account=account, public_id=task.public_id, even_if_running=True)
    assert cancelled.status == "cancelled" and balance(account) == 50
    with LeaseKeeper(task_id=task.pk, claim_id="msg-1") as lease:
        pass
    assert not lease.lost  # it never renewed; the engine's cancel check sees the status itself


def test_a_stale_workers_failure_is_not_the_new_claims(account: Account) -> None:
    task = submit(account)
    task_claim(task_id=task.pk, claim_id="old")
    lease_lapse(task)
    task_claim(task_id=task.pk, claim_id="new")
    task_fail(task_id=task.pk, error=ProcessingError("late"), claim_id="old")
    task.refresh_from_db()
    assert task.status == "processing" and balance(account) == 46


def test_the_watchdog_asks_for_pending_tasks_of_its_queues_older_than_its_interval(
    account: Account,
) -> None:
    subscription_set_plan(account=account, plan=plan_get(code="pro"))
    old, fresh, running = submit(account), submit(account), submit(account)
    Task.unscoped_objects.filter(pk__in=[old.pk, running.pk]).update(
        created_at=timezone.now() - timedelta(minutes=5)
    )
    Task.unscoped_objects.filter(pk=running.pk).update(status=Task.Status.PROCESSING)
    minute_ago = timezone.now() - timedelta(minutes=1)
    assert tasks_waiting(queues=[old.queue], since=minute_ago) == {old.pk}
    assert tasks_waiting(queues=["some-other-queue"], since=minute_ago) == set()
    assert fresh.pk in tasks_waiting(queues=[old.queue], since=timezone.now())
