"""The fault suite: real processes broken on purpose. After each fault every task ends completed,
failed or cancelled within the promised time, each charge has its result or its refund, the
ledger reconciles, and the service answers again by itself."""

from __future__ import annotations

import base64
import contextlib
import io
import itertools
import os
import signal
import time
from collections.abc import Iterator

import psycopg
import pytest
from celery import Celery
from PIL import Image

from tests.conftest import IN_CI
from tests.integration.stack import (
    FINISHED,
    FaultStack,
    PostgresCluster,
    RedisServer,
    missing_parts,
    wait_until,
)

pytestmark = pytest.mark.integration

LEASE_SECONDS = 3
SWEEP_SECONDS = 1
WATCHDOG_SECONDS = 2
# What a dead worker may cost a task here: its lease, a sweep, a retry's countdown and the rerun.
RECOVERY_SECONDS = 45
ASYNC = {"Prefer": "respond-async"}
_emails = (f"fault{n}@example.com" for n in itertools.count())


def data_url(size: int) -> str:
    gradient = Image.linear_gradient("L").resize((size, size)).convert("RGB")
    buffer = io.BytesIO()
    gradient.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


# About 3 s of CPU upscaling here: long enough to break a worker in the middle of it.
SLOW = {"image_url": data_url(640), "enhancement_type": "upscale", "upscale_factor": 2}
QUICK = {"image_url": data_url(64), "enhancement_type": "color"}


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    if why := missing_parts():
        if IN_CI:
            pytest.fail(f"the fault suite must run in CI: {why}")
        pytest.skip(why)
    redis, postgres = RedisServer(), PostgresCluster()
    stack = FaultStack(
        var_dir=tmp_path_factory.mktemp("faults"),
        redis=redis,
        postgres=postgres,
        # The `consumer_wedge` remote-control command, for the watchdog's test.
        worker_options=("--include", "tests.integration.worker_faults"),
        settings={
            "IMAGING_TASK_LEASE_SECONDS": str(LEASE_SECONDS),
            "IMAGING_SWEEP_SECONDS": str(SWEEP_SECONDS),
            "IMAGING_CONSUMER_WATCHDOG_SECONDS": str(WATCHDOG_SECONDS),
            "API_SYNC_WAIT_SECONDS": "20",
        },
    )
    try:
        redis.start()
        postgres.start()
        stack.start()
        yield stack
    finally:
        stack.stop()
        redis.kill()
        postgres.stop()


class Tenant:
    """A fresh account (pro plan, 1000 credits) and its HTTP client: no test shares a window."""

    def __init__(self, stack: FaultStack) -> None:
        self.email = next(_emails)
        issued = stack.manage("issue_api_key", "--email", self.email, "--plan", "pro",
                              "--credits", "1000")  # fmt: skip
        self.headers = {"Authorization": f"Bearer {issued.stdout.strip().splitlines()[-1]}"}
        self.http = stack
        self.task_ids: list[str] = []

    def submit(self, body: dict, *, path: str = "/v1/enhance") -> str:
        status, _headers, answer = self.http.request(
            path, {**self.headers, **ASYNC}, "POST", body, timeout=30
        )
        assert status == 202, answer
        self.task_ids.append(answer["task_id"])
        return answer["task_id"]

    def task(self, task_id: str) -> dict:
        status, _headers, answer = self.http.request(f"/v1/task/{task_id}", self.headers)
        assert status == 200, answer
        return answer

    def wait_status(self, task_id: str, statuses: set[str], timeout: float) -> float:
        # Three polls a second stay within the plan's read limit (300 a minute).
        return wait_until(
            lambda: self.task(task_id)["status"] in statuses, timeout, task_id, every=0.3
        )


def row(stack: FaultStack, public_id: str) -> dict:
    with psycopg.connect(stack.postgres.url()) as conn:
        cursor = conn.execute(
            "SELECT id, status, attempts, claimed_by, queue FROM imaging_task WHERE public_id = %s",
            [public_id],
        )
        names = [column.name for column in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


def balance(stack: FaultStack, tenant: Tenant) -> int:
    with psycopg.connect(stack.postgres.url()) as conn:
        return conn.execute(
            "SELECT credit_balance FROM accounts_account a JOIN accounts_membership m "
            "ON m.account_id = a.id JOIN accounts_user u ON u.id = m.user_id "
            "WHERE u.email = %s",
            [tenant.email],
        ).fetchone()[0]


def assert_settled(stack: FaultStack, tenant: Tenant) -> None:
    """Every task finished, every charge with its result or refund, no drift, service up."""
    for task_id in tenant.task_ids:
        tenant.wait_status(task_id, FINISHED, RECOVERY_SECONDS)
    stack.manage("reconcile_credits")
    stack.manage("reconcile_tasks", "--unfinished-for", "0")
    status, _headers, _answer = tenant.http.request("/v1/account", tenant.headers)
    assert status == 200


def running(stack: FaultStack, tenant: Tenant, body: dict) -> str:
    """A task that a worker is in the middle of."""
    task_id = tenant.submit(body)
    tenant.wait_status(task_id, {"processing"}, 30)
    time.sleep(0.5)  # into the upscaling itself
    assert tenant.task(task_id)["status"] == "processing"
    return task_id


def test_the_same_message_delivered_twice_runs_the_task_once(faults: FaultStack) -> None:
    tenant = Tenant(faults)
    task_id = running(faults, tenant, SLOW)
    task = row(faults, task_id)
    sender = Celery(broker=faults.redis.url())
    try:
        for message_id in (task["claimed_by"], task["claimed_by"], "another-message"):
            sender.send_task("imaging.run", args=[task["id"]], queue="cpu", task_id=message_id)
    finally:
        sender.close()
    tenant.wait_status(task_id, FINISHED, RECOVERY_SECONDS)
    assert tenant.task(task_id)["status"] == "completed"
    assert row(faults, task_id)["attempts"] == 1
    assert_settled(faults, tenant)


def test_a_worker_that_stopped_receiving_messages_reconnects_by_itself(
    faults: FaultStack,
) -> None:
    tenant = Tenant(faults)
    control = Celery(broker=faults.redis.url())
    try:
        replies = control.control.broadcast("consumer_wedge", reply=True, timeout=10)
    finally:
        control.close()
    assert replies and all("ok" in answer for reply in replies for answer in reply.values())
    task_id = tenant.submit(QUICK)
    time.sleep(1)
    assert tenant.task(task_id)["status"] == "pending"  # the worker gets nothing now
    # Two looks of the watchdog, the reconnect, and the task itself.
    took = tenant.wait_status(task_id, FINISHED, 4 * WATCHDOG_SECONDS + 20)
    assert tenant.task(task_id)["status"] == "completed", took
    assert "consumer stalled" in faults.worker_log.read_text()
    assert_settled(faults, tenant)


def test_a_worker_whose_acknowledgement_met_a_frozen_redis_takes_work_again(
    faults: FaultStack,
) -> None:
    """The real wedge (docs/reliability.md, found by bench/wedge_hunt.py): an acknowledgement sent
    while Redis is frozen for longer than the socket timeout fails, kombu keeps counting that
    message as unacknowledged, and a worker with a prefetch of one never asks for another, with
    nothing logged after "Couldn't ack". The watchdog finds it idle while work waits, and
    reconnects."""
    tenant = Tenant(faults)
    offset = faults.worker_log.stat().st_size
    logged = lambda: faults.worker_log.read_bytes()[offset:]  # noqa: E731
    sender = Celery(broker=faults.redis.url())
    try:
        sender.send_task("faults.ack_in_frozen_redis", args=[faults.redis.process.pid, 5],
                         queue="cpu")  # fmt: skip
    finally:
        sender.close()
    wait_until(lambda: b"Couldn't ack" in logged(), 30, "the acknowledgement to fail")
    wait_until(faults.redis.answers, 30, "Redis to thaw")
    wait_until(lambda: tenant.http.request("/v1/account", tenant.headers)[0] == 200, 30, "the API")
    task_id = tenant.submit(QUICK)
    took = tenant.wait_status(task_id, FINISHED, 4 * WATCHDOG_SECONDS + 30)
    assert tenant.task(task_id)["status"] == "completed", took
    assert b"consumer stalled" in logged()
    assert_settled(faults, tenant)


def test_a_pool_child_killed_mid_task_is_rerun_within_the_lease(faults: FaultStack) -> None:
    tenant = Tenant(faults)
    task_id = running(faults, tenant, SLOW)
    (child,) = faults.worker_children()
    killed = time.monotonic()
    os.kill(child, signal.SIGKILL)
    tenant.wait_status(task_id, FINISHED, RECOVERY_SECONDS)
    recovered = time.monotonic() - killed
    assert tenant.task(task_id)["status"] == "completed"
    assert row(faults, task_id)["attempts"] == 2
    assert recovered < RECOVERY_SECONDS
    assert_settled(faults, tenant)


def test_a_worker_main_process_killed_mid_task_loses_nothing(faults: FaultStack) -> None:
    tenant = Tenant(faults)
    task_id = running(faults, tenant, SLOW)
    orphaned = faults.worker.pid
    os.kill(orphaned, signal.SIGKILL)  # its pool process may finish the task, or die with it
    faults.worker.wait()
    faults.worker_start()  # what a supervisor does
    try:
        tenant.wait_status(task_id, FINISHED, RECOVERY_SECONDS)
        assert tenant.task(task_id)["status"] == "completed"
        assert row(faults, task_id)["attempts"] in {1, 2}
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(orphaned, signal.SIGKILL)  # an orphaned pool process, if it lived on
    assert_settled(faults, tenant)


def test_a_worker_host_killed_mid_task_is_rerun_on_the_next_worker(faults: FaultStack) -> None:
    tenant = Tenant(faults)
    task_id = running(faults, tenant, SLOW)
    faults.worker_kill()  # its message stays unacknowledged in Redis for the visibility timeout
    faults.worker_start()  # what a supervisor does
    tenant.wait_status(task_id, FINISHED, RECOVERY_SECONDS)
    assert tenant.task(task_id)["status"] == "completed"
    assert row(faults, task_id)["attempts"] == 2
    assert_settled(faults, tenant)


def test_pending_tasks_run_after_redis_restarts_empty(faults: FaultStack) -> None:
    tenant = Tenant(faults)
    faults.worker_stop()
    task_ids = [tenant.submit(QUICK) for _ in range(3)]
    faults.redis.kill()  # every queued message is gone
    faults.redis.start()
    faults.worker_start()
    for task_id in task_ids:
        tenant.wait_status(task_id, FINISHED, RECOVERY_SECONDS)
        assert tenant.task(task_id)["status"] == "completed"
    # New work is routed again too (the queues' bindings went with the data).
    tenant.submit(QUICK)
    assert_settled(faults, tenant)


def test_the_service_answers_again_after_postgresql_restarts(faults: FaultStack) -> None:
    tenant = Tenant(faults)
    first = tenant.submit(QUICK)
    tenant.wait_status(first, {"completed"}, RECOVERY_SECONDS)
    faults.postgres.restart()  # every pooled connection of web, worker and beat is cut
    recovered = wait_until(
        lambda: tenant.http.request("/v1/account", tenant.headers)[0] == 200, 30, "PostgreSQL"
    )
    assert recovered < 30
    task_id = tenant.submit(QUICK)
    tenant.wait_status(task_id, {"completed"}, RECOVERY_SECONDS)
    assert_settled(faults, tenant)


def test_failing_result_storage_fails_the_task_with_its_refund(faults: FaultStack) -> None:
    tenant = Tenant(faults)
    before = balance(faults, tenant)
    with faults.results_unwritable():
        task_id = tenant.submit(QUICK)
        tenant.wait_status(task_id, FINISHED, RECOVERY_SECONDS)
        answer = tenant.task(task_id)
        assert answer["status"] == "failed" and answer["error"]["code"] == "PROCESSING_ERROR"
        assert balance(faults, tenant) == before
    assert tenant.task(tenant.submit(QUICK)) is not None
    assert_settled(faults, tenant)


# Last in the module: it freezes the suite's Redis.
def test_a_frozen_redis_gets_503s_with_retry_after_and_charges_nothing(
    faults: FaultStack,
) -> None:
    tenant = Tenant(faults)
    before = balance(faults, tenant)
    faults.redis.freeze()
    try:
        started = time.monotonic()
        status, headers, answer = tenant.http.request(
            "/v1/enhance", {**tenant.headers, **ASYNC}, "POST", QUICK, timeout=30
        )
        assert time.monotonic() - started < 10
        assert status == 503 and answer["error"]["code"] == "TEMPORARY_UNAVAILABLE"
        assert int(headers["Retry-After"]) > 0
    finally:
        faults.redis.thaw()
    assert balance(faults, tenant) == before
    wait_until(lambda: tenant.http.request("/v1/account", tenant.headers)[0] == 200, 30, "redis")
    task_id = tenant.submit(QUICK)
    tenant.wait_status(task_id, {"completed"}, RECOVERY_SECONDS)
    assert_settled(faults, tenant)
