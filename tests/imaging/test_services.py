"""Task lifecycle: charged at submit, claimed once within the plan's concurrency, refunded on
failure or cancellation, never lost."""

import time
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from accounts.models import Account
from accounts.services import user_personal_account_ensure
from billing.models import CreditLedgerEntry
from billing.selectors import account_billing_summary, plan_get
from billing.services import credits_set_balance, subscription_set_plan
from config.celery import app as celery_app
from core.errors import InsufficientCredits, NotFound, ProcessingError, TemporaryUnavailable
from core.operations import Operation
from imaging.models import Task
from imaging.selectors import task_detail
from imaging.services import (
    ClaimResult,
    TaskInput,
    task_cancel,
    task_claim,
    task_complete,
    task_fail,
    task_files_purge,
    task_submit,
    tasks_submit,
    tasks_sweep,
)
from imaging.storage import image_save

pytestmark = pytest.mark.django_db


def picture() -> Image.Image:
    return Image.new("RGB", (32, 24), (200, 120, 40))


def balance(account: Account) -> int:
    return account_billing_summary(account=account).balance


def submit(account: Account, operation=Operation.ENHANCE) -> Task:
    return task_submit(
        account=account, operation=operation, task_input=TaskInput(params={}, images=(picture(),))
    )


def test_submit_charges_stores_the_input_and_queues_by_operation(account: Account) -> None:
    task = submit(account)
    assert task.status == Task.Status.PENDING and task.public_id.startswith("task_")
    assert (task.queue, task.credits, balance(account)) == ("cpu", 4, 46)
    assert task.charge.reference == task.public_id
    assert default_storage.exists(task.input_files[0])
    assert submit(account, Operation.TEXT_TO_IMAGE).queue == "gpu"


def test_short_credits_leave_no_task_and_no_file(account: Account) -> None:
    credits_set_balance(account=account, balance=3, kind="adjustment", idempotency_key="low")
    folder = f"inputs/{account.pk}"
    before = set(default_storage.listdir(folder)[1]) if default_storage.exists(folder) else set()
    with pytest.raises(InsufficientCredits):
        submit(account)
    assert not Task.objects.for_account(account).exists()
    assert set(default_storage.listdir(folder)[1]) == before


def test_a_batch_is_charged_all_or_nothing(account: Account) -> None:
    inputs = [TaskInput(params={"prompt": "x"}, images=(picture(),)) for _ in range(3)]
    tasks = tasks_submit(account=account, operation=Operation.BATCH_EDIT, inputs=inputs)
    assert len({t.batch_id for t in tasks}) == 1 and tasks[0].batch.total_credits == 15
    assert balance(account) == 35
    with pytest.raises(InsufficientCredits):
        tasks_submit(account=account, operation=Operation.BATCH_EDIT, inputs=inputs * 3)
    assert balance(account) == 35 and Task.objects.for_account(account).count() == 3


def test_a_task_is_claimed_once(account: Account) -> None:
    task = submit(account)
    assert task_claim(task_id=task.pk) == ClaimResult.CLAIMED
    assert task_claim(task_id=task.pk) == ClaimResult.GONE  # a redelivered message
    task.refresh_from_db()
    assert (task.status, task.attempts) == (Task.Status.PROCESSING, 1)


def test_claims_respect_the_plans_concurrency(account: Account) -> None:
    first, second = submit(account), submit(account)  # the free plan runs one at a time
    assert task_claim(task_id=first.pk) == ClaimResult.CLAIMED
    assert task_claim(task_id=second.pk) == ClaimResult.BUSY
    subscription_set_plan(account=account, plan=plan_get(code="pro"))
    assert task_claim(task_id=second.pk) == ClaimResult.CLAIMED


def test_a_task_whose_worker_died_is_claimed_again_then_given_up(account: Account) -> None:
    task = submit(account)
    lapsed = timezone.now() - timedelta(seconds=1)
    for _attempt in range(3):
        assert task_claim(task_id=task.pk) == ClaimResult.CLAIMED
        Task.objects.for_account(account).filter(pk=task.pk).update(lease_expires_at=lapsed)
    assert task_claim(task_id=task.pk) == ClaimResult.GONE
    task.refresh_from_db()
    assert (task.status, task.attempts, balance(account)) == (Task.Status.FAILED, 3, 50)


def test_failure_refunds_once(account: Account) -> None:
    task = submit(account)
    task_fail(task_id=task.pk, error=ProcessingError("model exploded"))
    task_fail(task_id=task.pk, error=ProcessingError("again"))
    task.refresh_from_db()
    assert (task.status, task.error_code, task.error_message) == (
        "failed",
        "PROCESSING_ERROR",
        "model exploded",
    )
    refunds = CreditLedgerEntry.objects.for_account(account).filter(kind="refund")
    assert refunds.count() == 1 and balance(account) == 50


def test_cancel_refunds_pending_tasks_only(account: Account) -> None:
    pending, running = submit(account), submit(account)
    subscription_set_plan(account=account, plan=plan_get(code="pro"))
    task_claim(task_id=running.pk)
    before = balance(account)
    assert task_cancel(account=account, public_id=pending.public_id).status == "cancelled"
    assert task_cancel(account=account, public_id=running.public_id).status == "processing"
    assert balance(account) == before + 4


def test_nobody_cancels_another_accounts_task(account: Account, make_user) -> None:
    other = user_personal_account_ensure(user=make_user())
    task = submit(other)
    with pytest.raises(NotFound):
        task_cancel(account=account, public_id=task.public_id)


def point_broker_at(url: str) -> None:
    """Send this process's publishes to `url` (drops the cached connection pools)."""
    celery_app.conf.broker_url = url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def test_an_unreachable_broker_fails_fast_and_refunds(account: Account) -> None:
    original = celery_app.conf.broker_url
    point_broker_at("redis://127.0.0.1:1/0")  # nothing listens on port 1
    started = time.monotonic()
    try:
        with pytest.raises(TemporaryUnavailable):
            submit(account)
    finally:
        point_broker_at(original)
    assert time.monotonic() - started < 5
    task = Task.objects.for_account(account).get()
    assert task.status == "failed" and task.error_code == "TEMPORARY_UNAVAILABLE"
    assert balance(account) == 50


def test_the_reaper_fails_abandoned_tasks(account: Account) -> None:
    task = submit(account)
    Task.objects.for_account(account).filter(pk=task.pk).update(
        created_at=timezone.now() - timedelta(hours=7)
    )
    assert tasks_sweep() == 1
    task.refresh_from_db()
    assert task.status == "failed" and balance(account) == 50


def test_the_gpu_queue_is_recounted_once_per_interval_and_counts_own_submits_between(
    account: Account, settings, monkeypatch
) -> None:
    from imaging import services

    monkeypatch.setattr(services, "_queue_depth", services._QueueDepth())
    settings.IMAGING_GPU_QUEUE_MAX_DEPTH = 3
    settings.IMAGING_QUEUE_DEPTH_RECOUNT_SECONDS = 60
    submit(account, Operation.TEXT_TO_IMAGE)  # counted: 0 waiting, then 1 after this submit
    # Work another process queued meanwhile is not seen until the next count...
    for _ in range(3):
        Task.objects.create(account=account, operation=Operation.TEXT_TO_IMAGE, queue="gpu")
    submit(account, Operation.TEXT_TO_IMAGE)  # 1 + 1 <= 3
    # ...but this process's own submits are: 2 + 2 > 3.
    with pytest.raises(TemporaryUnavailable):
        tasks_submit(
            account=account,
            operation=Operation.TEXT_TO_IMAGE,
            inputs=[TaskInput(params={}), TaskInput(params={})],
        )
    settings.IMAGING_QUEUE_DEPTH_RECOUNT_SECONDS = 0  # the next check counts: 5 waiting
    with pytest.raises(TemporaryUnavailable):
        submit(account, Operation.TEXT_TO_IMAGE)


def finished_with_files(account: Account, *, days_ago: int) -> Task:
    task = submit(account)
    assert task_claim(task_id=task.pk) == ClaimResult.CLAIMED
    result = image_save(folder="results", account_id=account.pk, image=picture())
    mask = image_save(folder="results", account_id=account.pk, image=picture().convert("L"))
    task_complete(
        task_id=task.pk,
        result_files=[result],
        mask_file=mask,
        description="done",
        seed=1,
        timings={},
        demo=True,
    )
    finished = timezone.now() - timedelta(days=days_ago)
    Task.objects.for_account(account).filter(pk=task.pk).update(completed_at=finished)
    task.refresh_from_db()
    return task


def test_old_tasks_lose_their_images_and_keep_their_rows(account: Account, settings) -> None:
    settings.IMAGING_FILE_RETENTION_DAYS = 30
    old, recent = (finished_with_files(account, days_ago=d) for d in (31, 29))
    pending = submit(account)
    files = [*old.input_files, *old.result_files, old.mask_file]
    assert all(default_storage.exists(name) for name in files)

    assert task_files_purge() == 1
    assert not any(default_storage.exists(name) for name in files)
    old.refresh_from_db()
    assert (old.input_files, old.result_files, old.mask_file) == ([], [], "")
    assert old.files_deleted and not recent.files_deleted
    assert old.status == Task.Status.COMPLETED and old.charge is not None  # history stays
    assert task_detail(task=old)["result"]["image_url"] is None
    for kept in (recent, pending):
        assert all(default_storage.exists(name) for name in kept.input_files)
    assert task_detail(task=recent)["result"]["image_url"]
    assert task_files_purge() == 0  # nothing left to do

    settings.IMAGING_FILE_RETENTION_DAYS = 0  # keep forever
    assert task_files_purge(now=timezone.now() + timedelta(days=365)) == 0


def test_every_beat_job_names_a_registered_task() -> None:
    celery_app.loader.import_default_modules()  # what a worker imports when it starts
    registered = set(celery_app.tasks)
    scheduled = {entry["task"] for entry in celery_app.conf.beat_schedule.values()}
    assert "imaging.purge" in scheduled
    assert scheduled <= registered
