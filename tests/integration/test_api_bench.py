"""`make bench`'s API benchmark (bench/api.py) in its quick mode: it runs end to end on the real
stack and every client gets the answer it should (its speed goals are the report's, not ours)."""

from __future__ import annotations

import re

import pytest

from tests.integration.stack import bench_quick

pytestmark = pytest.mark.integration


def test_the_api_benchmark_runs_and_every_client_gets_its_answer() -> None:
    run = bench_quick("api.py")
    # Exit 0 already means no wrong answers; the report must also show them, scenario by scenario.
    report = run.stdout[run.stdout.index("What the submit time is made of") :]
    for label, status in [
        ("bare DRF APIView, POST /v1/bench-bare (200)", 200),
        ("POST /v1/enhance, 64x64 data URL (202)", 202),
        ("POST /v1/text-to-image (202)", 202),
    ]:
        assert re.search(rf"^{re.escape(label)} +[\d.]+ +[-\d.]+ {status}: \d+ *$", report, re.M)
    assert "  answers: 200: 100 (0 = no HTTP answer)" in report
    assert "Changed for the benchmark (no product code):" in report
