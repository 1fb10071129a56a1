"""`make bench`: every benchmark in turn, each printing its own table, then one table of all their
headline figures (bench/summary.py): figure, ours, the baseline measured in the same run, ratio,
goal, met; with the date and the machine. docs/benchmarks.md carries the latest.

Run: `make bench`, or `.venv/bin/python bench/all.py [--quick] [--only NAME ...] [--markdown
PATH]`. Exits 1 when a benchmark failed (a crash or wrong answers); a missed goal shows as NO in
the table. PostgreSQL and Redis: the benchmarks' own defaults (DATABASE_URL / REDIS_URL, or the
local servers); each uses databases of its own and drops them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.summary import Figure, figures_read, figures_table, machine  # noqa: E402

# Each benchmark with the options `make bench` runs it with: together under 10 minutes here.
BENCHES: dict[str, tuple[str, ...]] = {
    "auth": (),
    "credits": (),
    # One run of each rather than the best of 2 (CPU timings, no goals) and the median of 10
    # (the diffusion half): ~150 s less.
    "engine": ("--repeat", "1"),
    "quality": (),
    # 100,000 rows load in ~20 s; the million-row figures (same p95 within noise) are in the docs.
    "dashboard": ("--rows", "100000"),
    # 6 measured seconds per run rather than 8 (~15 s less).
    "api": ("--duration", "6"),
    "queueing": (),
    "growth": (),
}


def bench_run(name: str, options: tuple[str, ...], summary: Path) -> tuple[int, float]:
    """Runs bench/<name>.py, its output passed through; its exit code and seconds."""
    print(f"\n=== bench/{name}.py {' '.join(options)}", flush=True)
    started = time.monotonic()
    code = subprocess.call(
        [sys.executable, str(HERE / f"{name}.py"), *options, "--summary", str(summary)]
    )
    return code, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every benchmark's quick mode")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHES), default=list(BENCHES))
    parser.add_argument("--markdown", metavar="PATH", help="also write the table there")
    args = parser.parse_args()

    figures: list[Figure] = []
    runs: list[str] = []
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="nanobanana-bench-") as folder:
        for name in args.only:
            options = ("--quick",) if args.quick else BENCHES[name]
            summary = Path(folder) / f"{name}.json"
            code, seconds = bench_run(name, options, summary)
            runs.append(f"{name} {seconds:.0f} s")
            if code != 0:
                failed.append(f"{name} (exit {code})")
            if summary.exists():
                figures += figures_read(summary)
            elif code == 0:
                failed.append(f"{name} (wrote no figures)")

    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    mode = "quick modes (decide nothing)" if args.quick else "make bench"
    lines = [
        f"{when}, {mode}; {machine()}",
        f"Run times: {', '.join(runs)}.",
        "",
        figures_table(figures),
    ]
    if failed:
        lines += ["", f"FAILED: {', '.join(failed)}"]
    report = "\n".join(lines)
    print("\n" + report)
    if args.markdown:
        Path(args.markdown).write_text(report + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
