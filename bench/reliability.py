"""`make reliability`: mixed load from a separate locust process (bench/reliability_load.py) over
every /v1 operation, first without faults (the baseline) and then with faults injected on a
schedule, on a stack of its own (tests/integration/stack.py: its own Redis and PostgreSQL).
Afterwards every task must have finished, the ledger must reconcile, no charge may lack its result
or refund, and no 5xx may have been answered but the deliberate 503s. Prints one table.

    .venv/bin/python bench/reliability.py            # 60 s baseline + 300 s with faults
    .venv/bin/python bench/reliability.py --quick    # 10 s + 30 s (what the test runs)

Exits non-zero when a promise broke.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from celery import Celery

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.stack import (  # noqa: E402
    BIN,
    FINISHED,
    FaultStack,
    PostgresCluster,
    RedisServer,
    missing_parts,
    wait_until,
)

TENANTS = 4
# Shorter than production's 30 s / 15 s so that a 5-minute run sees each fault recovered from
# several times; docs/reliability.md gives the production figures.
SETTINGS = {
    "IMAGING_TASK_LEASE_SECONDS": "6",
    "IMAGING_SWEEP_SECONDS": "2",
    "API_SYNC_WAIT_SECONDS": "20",
}


@dataclass
class Phase:
    name: str
    seconds: float
    faults: Counter = field(default_factory=Counter)
    requests: int = 0
    failures: int = 0
    median_ms: float = 0.0
    p99_ms: float = 0.0
    task_ids: list[str] = field(default_factory=list)
    unexpected_5xx: int = 0
    deliberate_503: int = 0
    finished: Counter = field(default_factory=Counter)
    rerun: int = 0
    settle_seconds: float = 0.0


def tenants_create(stack: FaultStack) -> list[str]:
    """Keys of a few pro-plan accounts with ample credits; the plan's per-minute limit is raised
    in this stack's own database only, so the load measures recovery, not the limiter."""
    with psycopg.connect(stack.postgres.url(), autocommit=True) as conn:
        conn.execute(
            "UPDATE billing_plan SET requests_per_minute = 100000, requests_per_day = 10000000 "
            "WHERE code = 'pro'"
        )
    keys = []
    for n in range(TENANTS):
        issued = stack.manage("issue_api_key", "--email", f"load{n}@example.com", "--plan", "pro",
                              "--credits", "1000000")  # fmt: skip
        keys.append(issued.stdout.strip().splitlines()[-1])
    return keys


class FaultInjector(threading.Thread):
    """Breaks one part of the stack every `every` seconds, in turn, until stopped."""

    def __init__(self, stack: FaultStack, phase: Phase, every: float) -> None:
        super().__init__(daemon=True)
        self.stack, self.phase, self.every = stack, phase, every
        self.stopped = threading.Event()
        self.errors: list[str] = []

    def run(self) -> None:
        faults = [
            ("worker pool child killed", self._child_kill),
            ("Redis frozen 3 s", self._redis_freeze),
            ("message delivered twice", self._duplicate),
            ("worker host killed, restarted", self._worker_kill),
            ("Redis restarted empty", self._redis_restart),
            ("PostgreSQL restarted", self.stack.postgres.restart),
        ]
        turn = 0
        while not self.stopped.wait(self.every):
            name, inject = faults[turn % len(faults)]
            turn += 1
            try:
                inject()
            except Exception as error:  # reported in the table, never hidden
                self.errors.append(f"{name}: {error!r}")
            else:
                self.phase.faults[name] += 1

    def _child_kill(self) -> None:
        for child in self.stack.worker_children():
            os.kill(child, signal.SIGKILL)

    def _redis_freeze(self) -> None:
        self.stack.redis.freeze()
        time.sleep(3)
        self.stack.redis.thaw()

    def _worker_kill(self) -> None:
        self.stack.worker_kill()
        self.stack.worker_start()

    def _redis_restart(self) -> None:
        self.stack.redis.kill()
        self.stack.redis.start()

    def _duplicate(self) -> None:
        """Send the message of a task being processed again, under the same message id."""
        with psycopg.connect(self.stack.postgres.url()) as conn:
            found = conn.execute(
                "SELECT id, claimed_by, queue FROM imaging_task WHERE status = 'processing' "
                "ORDER BY id DESC LIMIT 1"
            ).fetchone()
        if found is None:
            raise LookupError("no task was processing")
        task_pk, message_id, queue = found
        sender = Celery(broker=self.stack.redis.url())
        try:
            sender.send_task("imaging.run", args=[task_pk], queue=queue, task_id=message_id)
        finally:
            sender.close()


def load_run(stack: FaultStack, keys: list[str], phase: Phase, users: int, folder: Path) -> None:
    """One locust run of `phase.seconds`; fills the phase's request and task figures."""
    tasks_file, report_file = folder / f"{phase.name}-tasks.txt", folder / f"{phase.name}.json"
    prefix = folder / phase.name
    env = {
        **os.environ,
        "NANOBANANA_API_KEY": ",".join(keys),
        "NANOBANANA_LOAD_TASKS_FILE": str(tasks_file),
        "NANOBANANA_LOAD_REPORT_FILE": str(report_file),
        "NANOBANANA_LOAD_POLL_SECONDS": "120",
    }
    subprocess.run(
        [str(BIN / "locust"), "-f", str(ROOT / "bench" / "reliability_load.py"), "--headless",
         "-u", str(users), "-r", str(users), "-t", f"{int(phase.seconds)}s",
         "--host", stack.base_url, "--only-summary", "--csv", str(prefix),
         "--stop-timeout", "130", "--loglevel", "WARNING"],
        env=env, cwd=ROOT, check=False, timeout=phase.seconds + 300,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    with open(f"{prefix}_stats.csv", newline="") as stats:
        total = next(row for row in csv.DictReader(stats) if row["Name"] == "Aggregated")
    phase.requests = int(total["Request Count"])
    phase.failures = int(total["Failure Count"])
    phase.median_ms = float(total["Median Response Time"] or 0)
    phase.p99_ms = float(total["99%"] or 0) if total.get("99%") not in (None, "N/A") else 0.0
    report = json.loads(report_file.read_text())
    phase.unexpected_5xx = report["unexpected_5xx"]
    phase.deliberate_503 = int(report["expected_refusals"].get("503", 0))
    phase.task_ids = tasks_file.read_text().split() if tasks_file.exists() else []


def settle(stack: FaultStack, phase: Phase, timeout: float) -> None:
    """Wait until every task of the phase finished; count how they ended and how many ran twice."""
    started = time.monotonic()

    def statuses() -> list[tuple[str, int]]:
        with psycopg.connect(stack.postgres.url()) as conn:
            return conn.execute(
                "SELECT status, attempts FROM imaging_task WHERE public_id = ANY(%s)",
                [phase.task_ids],
            ).fetchall()

    with contextlib.suppress(TimeoutError):  # what did not finish is reported below
        wait_until(lambda: all(s in FINISHED for s, _ in statuses()), timeout, "every task")
    phase.settle_seconds = time.monotonic() - started
    rows = statuses()
    phase.finished = Counter(status for status, _ in rows)
    phase.rerun = sum(1 for _, attempts in rows if attempts > 1)


def audits(stack: FaultStack) -> tuple[bool, str, str]:
    """Both reconciliations: whether they are clean, and what each printed."""
    credits = stack.manage("reconcile_credits", check=False)
    tasks = stack.manage("reconcile_tasks", "--unfinished-for", "0", check=False)
    clean = credits.returncode == 0 and tasks.returncode == 0
    return clean, credits.stdout.strip().splitlines()[-1], tasks.stdout.strip().replace("\n", "; ")


def table(phases: list[Phase], credits: str, tasks: str, errors: list[str]) -> str:
    rows = [
        ("load (locust, separate process)", lambda p: f"{p.seconds:.0f} s"),
        ("requests / failed (locust)", lambda p: f"{p.requests} / {p.failures}"),
        ("median / p99 ms", lambda p: f"{p.median_ms:.0f} / {p.p99_ms:.0f}"),
        ("faults injected", lambda p: str(sum(p.faults.values()))),
        ("tasks created", lambda p: str(len(p.task_ids))),
        ("completed / failed / cancelled", lambda p: "{completed} / {failed} / {cancelled}".format(
            **{s: p.finished.get(s, 0) for s in ("completed", "failed", "cancelled")})),
        ("unfinished after the run", lambda p: str(len(p.task_ids) - sum(p.finished.values()))),
        ("tasks run again after a fault", lambda p: str(p.rerun)),
        ("seconds until all finished", lambda p: f"{p.settle_seconds:.1f}"),
        ("deliberate 503s", lambda p: str(p.deliberate_503)),
        ("unexpected 5xx", lambda p: str(p.unexpected_5xx)),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    lines = [f"| {'':<{width}} | " + " | ".join(p.name for p in phases) + " |"]
    lines.append(f"|{'-' * (width + 2)}|" + "|".join("---" for _ in phases) + "|")
    lines += [
        f"| {name:<{width}} | " + " | ".join(value(p) for p in phases) + " |"
        for name, value in rows
    ]
    for phase in phases:
        for name, count in sorted(phase.faults.items()):
            lines.append(f"  {phase.name}: {name}: {count}")
    lines.append(f"reconcile_credits: {credits}")
    lines.append(f"reconcile_tasks: {tasks}")
    lines += [f"fault not injected: {error}" for error in errors]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 s baseline + 30 s with faults")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--fault-every", type=float, default=None, metavar="SECONDS")
    args = parser.parse_args()
    if why := missing_parts():
        print(f"reliability: cannot run here: {why}")
        return 2
    baseline = Phase("baseline", 10 if args.quick else 60)
    faulted = Phase("with faults", 30 if args.quick else 300)
    every = args.fault_every or (5 if args.quick else 25)
    redis, postgres = RedisServer(), PostgresCluster()
    folder = Path(postgres.folder.parent / f"nb-reliability-{os.getpid()}")
    folder.mkdir(exist_ok=True)
    stack = FaultStack(var_dir=folder, redis=redis, postgres=postgres, settings=SETTINGS)
    injector = FaultInjector(stack, faulted, every)
    try:
        redis.start()
        postgres.start()
        stack.start()
        keys = tenants_create(stack)
        load_run(stack, keys, baseline, args.users, folder)
        settle(stack, baseline, 120)
        injector.start()
        try:
            load_run(stack, keys, faulted, args.users, folder)
        finally:
            injector.stopped.set()
            injector.join()
        wait_until(stack.answers, 60, "the service")
        settle(stack, faulted, 180)
        clean, credits, tasks = audits(stack)
    finally:
        stack.stop()
        redis.kill()
        postgres.stop()
    print(table([baseline, faulted], credits, tasks, injector.errors))
    broken = [
        phase.name
        for phase in (baseline, faulted)
        if phase.unexpected_5xx or sum(phase.finished.values()) != len(phase.task_ids)
    ]
    if not clean or broken:
        print(f"reliability: a promise broke ({', '.join(broken) or 'audit'})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
