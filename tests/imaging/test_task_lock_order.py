"""On PostgreSQL, with real concurrent connections: a cancellation racing a claim of the same
account waits for it instead of deadlocking (found by `make reliability`)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections, transaction
from PIL import Image

from accounts.models import Account
from accounts.services import user_create, user_personal_account_ensure
from core.operations import Operation
from imaging.models import Task
from imaging.services import TaskInput, task_cancel, task_submit
from tests.conftest import require_postgres

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def pg_account() -> Account:
    require_postgres("real concurrent connections")
    return user_personal_account_ensure(user=user_create(email="racer@example.com"))


def test_a_cancel_racing_a_claim_waits_for_it_instead_of_deadlocking(pg_account: Account) -> None:
    task_input = TaskInput(params={}, images=(Image.new("RGB", (8, 8)),))
    task = task_submit(account=pg_account, operation=Operation.ENHANCE, task_input=task_input)
    holding, errors = threading.Event(), []

    def claim_like() -> None:
        """What task_claim does: the account's lock, then (a moment later) the task's row."""
        try:
            with transaction.atomic():
                Account.objects.select_for_update().get(pk=pg_account.pk)
                holding.set()
                time.sleep(0.5)  # the cancellation starts meanwhile
                Task.unscoped_objects.filter(pk=task.pk).update(progress=1)
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    claimer = threading.Thread(target=claim_like)
    claimer.start()
    holding.wait(5)
    cancelled = task_cancel(account=pg_account, public_id=task.public_id)
    claimer.join(10)
    assert errors == []
    assert cancelled.status == Task.Status.CANCELLED
