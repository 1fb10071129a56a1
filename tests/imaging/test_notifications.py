"""Waiting for a task: a finish wakes its waiters at once through Redis, by polling without it;
waiting holds no database connection."""

import asyncio
import threading
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import override_settings
from PIL import Image

from accounts.models import Account
from billing.services import credits_set_balance
from core.operations import Operation
from imaging import notifications
from imaging.models import Task
from imaging.services import TaskInput, task_complete, task_submit
from tests.conftest import require_postgres, require_service

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def running_task(account: Account) -> Task:
    task = task_submit(
        account=account,
        operation=Operation.ENHANCE,
        task_input=TaskInput(params={}, images=(Image.new("RGB", (8, 8)),)),
    )
    Task.objects.for_account(account).filter(pk=task.pk).update(status=Task.Status.PROCESSING)
    return task


def complete_later(tasks: list[Task], delay: float) -> threading.Timer:
    """Complete the tasks one after another in a thread of their own, after `delay` seconds."""

    def complete() -> None:
        try:
            for task in tasks:
                task_complete(
                    task_id=task.pk,
                    result_files=task.input_files,
                    description="done",
                    seed=1,
                    timings={},
                    demo=True,
                )
        finally:
            connections.close_all()  # this thread's; as a worker's task would end

    timer = threading.Timer(delay, complete)
    timer.start()
    return timer


def test_a_wait_ends_empty_when_the_task_does_not_finish_in_time(account: Account) -> None:
    task = running_task(account)
    started = time.monotonic()
    assert asyncio.run(notifications.task_wait_finished(task_id=task.pk, timeout=0.3)) is None
    assert 0.3 <= time.monotonic() - started < 2


@override_settings(REDIS_URL="")
def test_without_redis_the_waiter_polls_the_row(account: Account) -> None:
    task = running_task(account)
    complete_later([task], 0.3)
    seen = asyncio.run(notifications.task_wait_finished(task_id=task.pk, timeout=10))
    assert seen.status == Task.Status.COMPLETED


@pytest.mark.redis
def test_with_redis_a_finish_wakes_every_waiter_at_once(account: Account) -> None:
    url = require_service("REDIS_URL", "task notifications over Redis pub/sub")
    tasks = [running_task(account) for _ in range(3)]

    async def scenario() -> tuple[list[Task], float]:
        notifications.loop_serves_requests()  # as config.asgi does under uvicorn
        with override_settings(REDIS_URL=url):
            watcher = notifications._watcher()
            for _ in range(100):  # the subscription connects in the background
                if watcher.connected:
                    break
                await asyncio.sleep(0.05)
            assert watcher.connected
            waits = [
                notifications.task_wait_finished(task_id=task.pk, timeout=30) for task in tasks
            ]
            complete_later(tasks, 0.5)
            started = time.monotonic()
            seen = await asyncio.gather(*waits)
            return seen, time.monotonic() - started

    with override_settings(REDIS_URL=url):
        seen, elapsed = asyncio.run(scenario())
    assert [t.status for t in seen] == [Task.Status.COMPLETED] * 3
    # Well under the row re-check interval: the published message woke them.
    assert elapsed < notifications.RECHECK_SECONDS - 2


def test_many_waiters_wake_from_the_watchers_reads(account: Account) -> None:
    # SQLite's in-memory test database locks whole tables across threads.
    require_postgres("concurrent connections")
    credits_set_balance(account=account, balance=100, kind="adjustment", idempotency_key="w")
    tasks = [running_task(account) for _ in range(20)]
    complete_later(tasks, 0.2)

    async def scenario() -> list[Task | None]:
        notifications.loop_serves_requests()
        waits = [notifications.task_wait_finished(task_id=t.pk, timeout=10) for t in tasks]
        return await asyncio.gather(*waits)

    with override_settings(REDIS_URL=""):
        seen = asyncio.run(scenario())
    assert {t.pk for t in seen} == {t.pk for t in tasks}
    # The watcher's thread serves no request: it gives its connection back after each read.
    assert not asyncio.run(sync_to_async(thread_holds_a_connection, thread_sensitive=True)())


def thread_holds_a_connection() -> bool:
    return connections["default"].connection is not None
