"""`make bench`'s one table: every benchmark writes its headline figures as `Figure`s to the JSON
file named by its `--summary PATH` option, and bench/all.py prints them together (figure, ours,
the baseline measured in the same run, ratio, goal, met)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Figure:
    """One headline figure of one benchmark run. `baseline` is measured in the same run (None
    where a goal is absolute); `met` is None where the run decides nothing (quick modes)."""

    bench: str  # the script's name, e.g. "credits"
    figure: str  # what is measured, with its unit: "charges/s, one hot account"
    ours: float
    baseline: float | None
    baseline_name: str  # "naive read-modify-write"; "" without a baseline
    goal: str  # ">= 0.8x baseline", "< 50 ms"
    met: bool | None

    @property
    def ratio(self) -> float | None:
        """ours / baseline, when there is a baseline."""
        if self.baseline in (None, 0):
            return None
        return self.ours / self.baseline


def summary_argument(parser: argparse.ArgumentParser) -> None:
    """Adds `--summary PATH` (what bench/all.py passes) to a benchmark's options."""
    parser.add_argument(
        "--summary", default=None, metavar="PATH", help="also write the headline figures as JSON"
    )


def figures_write(path: str | None, figures: list[Figure]) -> None:
    """Writes `figures` to `path` (nothing without one)."""
    if path:
        Path(path).write_text(json.dumps([asdict(f) for f in figures], indent=1))


def figures_read(path: Path) -> list[Figure]:
    return [Figure(**item) for item in json.loads(path.read_text())]


def number(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def figures_table(figures: list[Figure]) -> str:
    """The figures as one Markdown table (what docs/benchmarks.md carries)."""
    header = ("bench", "figure", "ours", "baseline (same run)", "ratio", "goal", "met")
    lines = [
        (
            f.bench, f.figure, number(f.ours),
            f"{number(f.baseline)} ({f.baseline_name})" if f.baseline_name else number(f.baseline),
            "" if f.ratio is None else f"{f.ratio:.2f}x", f.goal,
            {None: "", True: "yes", False: "NO"}[f.met],
        )
        for f in figures
    ]  # fmt: skip
    return "\n".join(
        "| " + " | ".join(line) + " |" for line in [header, ("---",) * len(header), *lines]
    )


def cpu_model() -> str:
    """The processor's name ("AMD EPYC ..."), from /proc/cpuinfo where there is one."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine() -> str:
    """The machine a run measured, in one line."""
    cpu = cpu_model()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {memory:.0f} GiB, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )
