"""`make bench`'s growth benchmark (bench/growth.py) in its quick mode, on PostgreSQL + Redis with
HAProxy: every client level answers every request as it should, the two web processes behind the
balancer both serve, and queued tasks of both kinds run at every depth (its growth goals are the
report's, not ours)."""

from __future__ import annotations

import re
import shutil

import pytest

from bench.growth import QUICK_DEPTHS, QUICK_LEVELS
from bench.queueing import services_missing
from tests.conftest import IN_CI
from tests.integration.stack import bench_quick

pytestmark = pytest.mark.integration


def test_the_growth_benchmark_answers_every_level_and_both_hosts_serve() -> None:
    why = services_missing() or ("" if shutil.which("haproxy") else "haproxy is not installed")
    if why:
        if IN_CI:
            pytest.fail(f"the growth benchmark must run in CI: {why}")
        pytest.skip(why)
    run = bench_quick("growth.py")  # exit 0: no wrong answer, and tasks ran at every depth
    report = run.stdout[run.stdout.index("Clients (keep-alive") :]
    for clients in QUICK_LEVELS:
        for scenario, status in [
            ("bare DRF view, GET /v1/bench-bare", 200),
            ("GET /v1/account", 200),
            ("POST /v1/enhance (202)", 202),
        ]:
            row = re.search(
                rf"^ +{clients}  {re.escape(scenario)} +(\d+) +([\d.]+) +([\d.]+) +[\d.]+x  "
                rf"{status}: (\d+) *$",
                report,
                re.M,
            )
            assert row, (clients, scenario, report[:2000])
            assert int(row.group(1)) > 0 and float(row.group(3)) >= float(row.group(2)) > 0
            assert int(row.group(4)) >= 60  # the quick mode's requests per level, all answered
    for setup in ("1 uvicorn, direct", "1 uvicorn behind HAProxy", "2 uvicorn behind HAProxy"):
        assert re.search(rf"^{re.escape(setup)} +[1-9]\d* ", report, re.M), setup
    backends = re.search(r"2 uvicorn behind HAProxy: requests per backend \{(.*)\}", report)
    counts = [int(n) for n in re.findall(r": (\d+)", backends.group(1))]
    assert len(counts) == 2 and min(counts) > 0, counts  # round robin reached both processes
    for queued in QUICK_DEPTHS:
        for label in ("raw no-op Celery task (baseline)", "enhance color 32x32"):
            pattern = rf"^ +{queued}  {re.escape(label)} +\d+ +(\d+) +([\d.]+) "
            row = re.search(pattern, report, re.M)
            assert row and int(row.group(1)) > 0 and float(row.group(2)) > 0, (queued, label)
