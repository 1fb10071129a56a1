"""`make bench`'s queue benchmark (bench/queueing.py) in its quick mode, on PostgreSQL + Redis:
every task of every run completes, each run has a rate, and the worker's time per task shows the
engine call apart from the worker's own parts (its speed goals are the report's, not ours)."""

from __future__ import annotations

import re

import pytest

from bench.queueing import services_missing
from tests.conftest import IN_CI
from tests.integration.stack import bench_quick

pytestmark = pytest.mark.integration


def test_the_queue_benchmark_completes_every_task_and_splits_the_worker_time() -> None:
    if why := services_missing():
        if IN_CI:
            pytest.fail(f"the queue benchmark must run in CI: {why}")
        pytest.skip(why)
    run = bench_quick("queueing.py")  # exit 0: every task of every run completed
    report = run.stdout[run.stdout.index("Queue path on PostgreSQL + Redis: 40 tasks per run") :]
    for label in ("raw no-op Celery task (baseline)", "enhance color 32x32 via task_submit"):
        for mode in ("backlog", "live"):
            row = re.search(
                rf"^{re.escape(label)} +{mode} +40/40 +(\d+) +([\d.]+) +([\d.]+)x ", report, re.M
            )
            assert row, (label, mode, report[:1500])
            assert int(row.group(1)) > 0 and float(row.group(2)) > 0, row.group(0)
    parts = dict(re.findall(r"^(\w+) +[\d.]+ +[\d.]+ +([\d.]+) ", report, re.M))
    assert {"total", "engine", "own", "claim", "inputs", "store", "finish"} <= set(parts), parts
    assert float(parts["engine"]) > 0 and float(parts["claim"]) > 0
    # The worker's own time is the rest of the task beside the engine call.
    assert float(parts["own"]) < float(parts["total"])
    assert re.search(r"^Goals: backlog drain [\d.]+x the no-op's", report, re.M)
