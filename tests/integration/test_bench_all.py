"""`make bench`'s combined table (bench/all.py): it runs the chosen benchmarks and prints one
table of their headline figures with the date and the machine; each benchmark's own quick test
checks that it writes its figures (tests/integration/stack.bench_quick)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from bench.all import BENCHES
from tests.integration.stack import ROOT

pytestmark = pytest.mark.integration


def test_make_bench_prints_one_table_with_ours_the_baseline_and_the_ratio(
    tmp_path: Path,
) -> None:
    env = dict(os.environ)
    if env.get("DATABASE_URL", "").startswith("postgres"):
        # Not the suite's own test database (bench/auth.py makes test_<name>).
        server = env["DATABASE_URL"].rsplit("/", 1)[0]
        env["DATABASE_URL"] = f"{server}/nb_all_{uuid.uuid4().hex[:8]}"
    markdown = tmp_path / "bench.md"
    run = subprocess.run(
        [sys.executable, "bench/all.py", "--quick", "--only", "auth", "--markdown", str(markdown)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = markdown.read_text()
    assert report in run.stdout
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC, quick modes .*; \d+ CPUs", report, re.M)
    assert re.search(r"^Run times: auth \d+ s\.$", report, re.M)
    header, _divider, *rows = [line for line in report.splitlines() if line.startswith("|")]
    assert header.startswith("| bench | figure | ours | baseline (same run) | ratio | goal |")
    assert len(rows) == 1  # auth writes one headline figure
    cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert cells[0] == "auth"
    ours, baseline = float(cells[2]), float(cells[3].split(" ")[0])
    assert ours > 0 and baseline > 0
    assert abs(float(cells[4].removesuffix("x")) - ours / baseline) < 0.02
    assert "FAILED" not in report


def test_every_benchmark_make_bench_runs_exists() -> None:
    for name in BENCHES:
        assert (ROOT / "bench" / f"{name}.py").is_file(), name
