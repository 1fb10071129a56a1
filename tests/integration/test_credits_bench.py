"""The credit-charge benchmark (bench/credits.py) in its quick mode, with the documented 16
threads on PostgreSQL: it runs end to end (it once ran out of pooled connections), every row has
a rate, and `credits_charge` loses no update and leaves every balance equal to its ledger."""

from __future__ import annotations

import os
import re
import uuid

import psycopg
import pytest

from tests.conftest import IN_CI
from tests.integration.stack import bench_quick

pytestmark = pytest.mark.integration

LOCAL = "postgres://postgres@127.0.0.1:5432/postgres"


def postgres_server() -> tuple[str, str]:
    """DATABASE_URL's PostgreSQL server, else the local one, without the database name; and why
    neither answers ('' when one does)."""
    url = os.environ.get("DATABASE_URL", "")
    server = (url if url.startswith("postgres") else LOCAL).rsplit("/", 1)[0]
    try:
        with psycopg.connect(server + "/postgres", connect_timeout=3):
            return server, ""
    except psycopg.Error as error:
        return server, f"PostgreSQL does not answer at {server}: {error}"


def test_the_credits_benchmark_runs_and_loses_no_update(monkeypatch: pytest.MonkeyPatch) -> None:
    server, why = postgres_server()
    if why:
        if IN_CI:
            pytest.fail(f"the credits benchmark must run in CI: {why}")
        pytest.skip(why)
    # The bench creates and drops test_<name>: a name of this run's own, beside any other run.
    monkeypatch.setenv("DATABASE_URL", f"{server}/nb_credits_bench_{uuid.uuid4().hex[:8]}")
    monkeypatch.delenv("DATABASE_POOL_SIZE", raising=False)  # the bench must size the pool
    run = bench_quick("credits.py")  # exit 0: it ran, and credits_charge lost nothing
    table = run.stdout[run.stdout.index("Credit charges on postgresql: ") :]
    # 16 threads and the main thread each hold a pooled connection throughout: the default pool
    # of 10 made six threads time out (PoolTimeout) whenever a row took over 3 s
    pool = re.search(r"16 threads, each with its own connection \(pool of (\d+)\)", table)
    assert pool, table[:200]
    assert int(pool.group(1)) >= 17
    for scenario in ("one hot account", "100 accounts"):
        for charge in ("naive read-modify-write", "credits_charge"):
            found = re.search(rf"^{scenario} +{re.escape(charge)} +(\d+) +(\d+)$", table, re.M)
            assert found, (scenario, charge)
            assert int(found.group(1)) > 0, (scenario, charge)
            if charge == "credits_charge":
                assert found.group(2) == "0", f"{scenario}: lost updates"
    assert "balance differs from their ledger: 0" in table
    assert "target: 0 lost updates for credits_charge -> 0 PASS" in table
