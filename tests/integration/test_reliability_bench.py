"""`make reliability` in its quick mode: the benchmark runs end to end and its promises hold."""

from __future__ import annotations

import pytest

from tests.conftest import IN_CI
from tests.integration.stack import bench_quick, missing_parts

pytestmark = pytest.mark.integration


def test_the_reliability_benchmark_runs_and_keeps_its_promises() -> None:
    if why := missing_parts():
        if IN_CI:
            pytest.fail(f"the reliability benchmark must run in CI: {why}")
        pytest.skip(why)
    run = bench_quick("reliability.py")
    table = run.stdout[run.stdout.index("| load (locust") :]
    assert "reconcile_credits: 0 account(s) with drift" in table
    assert "| unexpected 5xx                  | 0 | 0 |" in table
    faults = [line for line in table.splitlines() if line.startswith("  with faults: ")]
    assert len(faults) >= 3  # at least three kinds of fault were injected and recovered from
