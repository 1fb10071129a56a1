"""`reconcile_tasks`: a charge without its result or refund, or a stuck task, is reported."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from PIL import Image

from accounts.models import Account
from core.errors import ProcessingError
from core.operations import Operation
from imaging.models import Task
from imaging.selectors import tasks_audit
from imaging.services import TaskInput, task_fail, task_submit

pytestmark = pytest.mark.django_db


def submit(account: Account) -> Task:
    task_input = TaskInput(params={}, images=(Image.new("RGB", (8, 8)),))
    return task_submit(account=account, operation=Operation.ENHANCE, task_input=task_input)


def test_failed_tasks_with_their_refund_and_fresh_pending_ones_are_clean(account: Account) -> None:
    task_fail(task_id=submit(account).pk, error=ProcessingError("x"))
    submit(account)
    assert tasks_audit(unfinished_for=timedelta(minutes=5)).clean
    call_command("reconcile_tasks")


def test_broken_promises_are_listed_and_fail_the_command(account: Account) -> None:
    stuck, unrefunded, empty = submit(account), submit(account), submit(account)
    Task.objects.for_account(account).filter(pk=stuck.pk).update(
        created_at=timezone.now() - timedelta(hours=2)
    )
    # Failed behind the services' back: no refund was written.
    Task.objects.for_account(account).filter(pk=unrefunded.pk).update(status="failed")
    Task.objects.for_account(account).filter(pk=empty.pk).update(status="completed")
    audit = tasks_audit(unfinished_for=timedelta(hours=1))
    assert audit.stuck == [stuck.public_id]
    assert audit.failed_unrefunded == [unrefunded.public_id]
    assert audit.completed_without_result == [empty.public_id]
    with pytest.raises(CommandError):
        call_command("reconcile_tasks")
