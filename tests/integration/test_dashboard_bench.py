"""The dashboard benchmark (bench/dashboard.py) in its quick mode: it runs end to end on a
PostgreSQL database of its own, every page answers 200, and the usage rollups equal the raw sums
(its speed goal is the report's, not ours)."""

from __future__ import annotations

import os
import re

import psycopg
import pytest

from tests.conftest import IN_CI
from tests.integration.stack import bench_quick

pytestmark = pytest.mark.integration

PAGES = (
    "/dashboard",
    "/tasks (first page)",
    "/tasks?starting_after= (half back)",
    "/tasks/<id>",
    "/billing (ledger first page)",
    "/billing?before= (half back)",
)


def postgres_missing() -> str:
    """Why the benchmark cannot run here ('' when it can): it measures PostgreSQL's plans, on
    DATABASE_URL's server or the local one, as bench/dashboard.py picks it."""
    url = os.environ.get("DATABASE_URL", "")
    server = url if url.startswith("postgres") else "postgres://postgres@127.0.0.1:5432/postgres"
    try:
        with psycopg.connect(server.rsplit("/", 1)[0] + "/postgres", connect_timeout=3):
            return ""
    except psycopg.Error as error:
        return f"PostgreSQL does not answer at {server}: {error}"


def test_the_dashboard_benchmark_runs_and_every_page_answers() -> None:
    if why := postgres_missing():
        if IN_CI:
            pytest.fail(f"the dashboard benchmark must run in CI: {why}")
        pytest.skip(why)
    run = bench_quick("dashboard.py")  # exit 0: no page answered anything but 200
    table = run.stdout[run.stdout.index("Dashboard pages, server time") :]
    for page in PAGES:
        # page, p50 / p95 and SQL queries for the baseline, then for the large account
        cells = r" +[\d.]+ / [\d.]+ +\d+"
        assert re.search(rf"^{re.escape(page)}{cells}{cells} +[\d.]+  (yes|NO)", table, re.M), page
    assert "usage rollups equal the sums of the 2,000 rows themselves" in table
    assert re.search(r"themselves .*: yes ", table)
    assert "ERROR" not in run.stdout
