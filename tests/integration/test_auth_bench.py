"""The API-key authentication benchmark (bench/auth.py) in its quick mode: it runs end to end on
its throw-away test database and measures every row, ours and the unauthenticated baseline alike
(its speed target is the report's, not ours: a quick run on shared cores decides nothing)."""

from __future__ import annotations

import os
import re
import uuid

import pytest

from tests.integration.stack import bench_quick

pytestmark = pytest.mark.integration

ROWS = (
    "view without authentication (baseline)",
    "same view + the key lookup query, no auth",
    "same view with Bearer API-key authentication",
    "  added by authentication in all",
    "  of which: the one indexed lookup (ORM + DB)",
    "  of which: everything else (parse, SHA-256, checks)",
    "contrast: one password-hasher check (PBKDF2)",
)


def test_the_auth_benchmark_runs_and_measures_ours_and_the_baseline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        # A database name of its own: Django's test database for DATABASE_URL's name is the one
        # this test session is using.
        server = url.rsplit("/", 1)[0]
        monkeypatch.setenv("DATABASE_URL", f"{server}/nb_auth_bench_{uuid.uuid4().hex[:8]}")
    run = bench_quick("auth.py")
    table = run.stdout[run.stdout.index("API-key authentication on ") :]
    measured = {}
    for row in ROWS:
        # differences of medians may come out negative on a noisy machine; they are still numbers
        found = re.search(rf"^{re.escape(row)} +(-?\d+\.\d{{4}})$", table, re.M)
        assert found, row
        measured[row] = float(found.group(1))
    assert measured["view without authentication (baseline)"] > 0
    assert measured["same view with Bearer API-key authentication"] > 0
    assert measured["contrast: one password-hasher check (PBKDF2)"] > 0
    assert re.search(
        r"^target: < 0\.2 ms beyond the lookup -> -?[\d.]+ ms (PASS|FAIL)$", table, re.M
    )
