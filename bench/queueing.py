"""Benchmark: the queue path: image tasks per second through Celery on Redis against raw no-op
Celery tasks on the same broker, queue and worker, and the worker's own time per task beside the
engine call.

Run: `make bench`, or `.venv/bin/python bench/queueing.py [--quick] [--tasks N]
[--worker-concurrency N] [--redis-db N] [--database-prefix NAME] [--strict]`. Needs PostgreSQL and
Redis (DATABASE_URL / REDIS_URL name the servers, else the local ones): it makes a database of its
own (`<prefix>_<random>`) and uses Redis database 12 (flushed before and after), starts the real
stack (tests/integration/stack.py: migrations, a Celery worker loaded with bench/queue_tasks.py
for the baseline, uvicorn), and removes everything on exit, Ctrl-C included.

Ours: `enhance` color on a 32x32 image, submitted through `imaging.services.task_submit` (what the
API calls after parsing: charge, store the input, create the row, publish) from this process;
the baseline: `bench.noop`, published with one producer. Each runs twice: "backlog" (the worker's
consumer of the cpu queue paused by remote control, N enqueued, then resumed: the drain rate) and
"live" (N enqueued while the worker consumes: first enqueue to last completion). The worker's own
time per task comes from the line imaging.tasks logs for every completed task (claim, inputs,
cancel checks, store, finish, with the engine call apart).

Goals: backlog drain >= 0.5x the no-op baseline's; the worker's own time < 30 ms per task (p50).
Exits 1 when a task did not complete; with --strict also when a goal is missed; 2 without
PostgreSQL or Redis.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.integration.stack import wait_until  # noqa: E402

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
RATIO_GOAL = 0.5
OWN_TIME_GOAL_MS = 30.0
NOOP_KEY = "nanobanana:bench:noop"
EXIT_NO_SERVICES = 2


# --- the stack (bench/growth.py uses these too) ------------------------------------------------


def services_missing() -> str:
    """Why the PostgreSQL + Redis stack cannot run here ('' when it can)."""
    from bench.api import _postgres_reachable, _redis_reachable

    pg_server = os.environ.get("DATABASE_URL", "") or DEFAULT_POSTGRES
    redis_server = os.environ.get("REDIS_URL", "") or DEFAULT_REDIS
    if not pg_server.startswith("postgres"):
        return f"DATABASE_URL is not PostgreSQL ({pg_server.split(':', 1)[0]})"
    if not _postgres_reachable(pg_server.rsplit("/", 1)[0] + "/postgres"):
        return f"PostgreSQL does not answer at {pg_server.rsplit('/', 1)[0]}"
    if not _redis_reachable(redis_server):
        return f"Redis does not answer at {redis_server.rsplit('/', 1)[0]}"
    return ""


def services_stack(
    *,
    name: str,
    database_prefix: str,
    redis_db: int,
    worker_concurrency: int,
    settings: dict[str, str] | None = None,
):
    """The real stack (bench/api.py's Stack) on a PostgreSQL database of its own and Redis
    database `redis_db` (flushed), with the baseline's task module in the worker; this process's
    Django points at it. Not started."""
    import psycopg
    import redis

    from bench.api import Stack, env_use

    pg_server = (os.environ.get("DATABASE_URL", "") or DEFAULT_POSTGRES).rsplit("/", 1)[0]
    redis_server = (os.environ.get("REDIS_URL", "") or DEFAULT_REDIS).rsplit("/", 1)[0]
    stack = Stack(
        var_dir=Path(tempfile.mkdtemp(prefix=f"nanobanana-bench-{name}-")),
        settings={"DJANGO_SETTINGS_MODULE": "bench.api_settings", **(settings or {})},
        worker_concurrency=worker_concurrency,
        web_options=("--no-access-log", "--timeout-graceful-shutdown", "5"),
        worker_options=("--without-gossip", "--without-mingle", "--include", "bench.queue_tasks"),
    )
    stack.backend = "PostgreSQL + Redis"
    stack.admin_dsn = pg_server + "/postgres"
    stack.db_name = f"{database_prefix}_{uuid.uuid4().hex[:8]}"
    stack.admin = psycopg.connect(stack.admin_dsn, autocommit=True)
    stack.admin.execute(f'CREATE DATABASE "{stack.db_name}"')
    stack.database_url = f"{pg_server}/{stack.db_name}"
    stack.redis_url = f"{redis_server}/{redis_db}"
    redis.Redis.from_url(stack.redis_url).flushdb()
    stack.changes += [
        f"database {stack.db_name} of the bench's own, dropped after; Redis db {redis_db} "
        "flushed before and after",
        "worker: --include bench.queue_tasks (the no-op baseline), --without-gossip "
        f"--without-mingle, concurrency {worker_concurrency}",
    ]
    env_use(stack)
    return stack


def signals_unwind() -> None:
    """Ctrl-C and SIGTERM both unwind through the callers' `finally` (also when started from a
    shell that had SIGINT ignored, as background jobs are)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def bench_account(stack) -> tuple[str, object]:
    """The bench key (plan max, limits lifted: bench/api.py's stack_prepare) and its account."""
    from bench.api import stack_prepare

    key = stack_prepare(stack)
    from accounts.models import User
    from accounts.services import user_personal_account_ensure

    account = user_personal_account_ensure(user=User.objects.get(email="bench@example.com"))
    return key, account


def consumer_pause(queue: str = "cpu") -> None:
    """The worker stops taking messages from `queue` (Celery remote control); those queued
    meanwhile wait in Redis."""
    from config.celery import app

    # limit=1: the one worker's reply ends the wait (a broadcast otherwise waits out its timeout).
    replies = app.control.cancel_consumer(queue, reply=True, timeout=5, limit=1)
    if not replies:
        raise RuntimeError("the worker did not answer cancel_consumer")


def consumer_resume(queue: str = "cpu") -> None:
    from config.celery import app

    replies = app.control.add_consumer(queue, reply=True, timeout=5, limit=1)
    if not replies:
        raise RuntimeError("the worker did not answer add_consumer")


def noop_publish(count: int, key: str, queue: str = "cpu") -> None:
    """`count` no-op messages on `queue`, through one producer (the baseline's enqueue)."""
    from bench.queue_tasks import bench_noop
    from config.celery import app

    with app.producer_or_acquire() as producer:
        for _ in range(count):
            bench_noop.apply_async(args=[key, time.time()], queue=queue, producer=producer)


def noop_runs(key: str) -> list[tuple[float, float]]:
    """(enqueued, ran) wall-clock times of the no-ops that ran, in the order they ran."""
    import redis
    from django.conf import settings

    raw = redis.Redis.from_url(settings.REDIS_URL).lrange(key, 0, -1)
    return [tuple(float(x) for x in item.split()) for item in raw]


def tiny_image(size: int = 32):
    from PIL import Image

    image = Image.new("RGB", (size, size))
    image.putdata([((x * 8) % 256, (y * 8) % 256, 128) for y in range(size) for x in range(size)])
    return image


ENHANCE_COLOR = {"enhancement_type": "color", "output_format": "png"}


def tasks_submit_cheap(account, count: int) -> list[int]:
    """`count` enhance-color tasks on a 32x32 image, each through task_submit (the API's path
    after parsing)."""
    from core.operations import Operation
    from imaging.services import TaskInput, task_submit

    image = tiny_image()
    return [
        task_submit(
            account=account,
            operation=Operation.ENHANCE,
            task_input=TaskInput(params={"seed": 1, **ENHANCE_COLOR}, images=(image,)),
        ).pk
        for _ in range(count)
    ]


def task_times(task_ids: list[int]) -> list[tuple[float, float | None, float | None]]:
    """(created, started, completed) epoch seconds of the tasks; None where not yet."""
    from imaging.models import Task

    rows = Task.unscoped_objects.filter(pk__in=task_ids).values_list(
        "created_at", "started_at", "completed_at"
    )
    return [
        (c.timestamp(), s.timestamp() if s else None, d.timestamp() if d else None)
        for c, s, d in rows
    ]


def tasks_completed(task_ids: list[int]) -> int:
    from imaging.models import Task

    return Task.unscoped_objects.filter(pk__in=task_ids, status=Task.Status.COMPLETED).count()


def tasks_finished(task_ids: list[int]) -> int:
    from imaging.models import FINISHED_STATUSES, Task

    return Task.unscoped_objects.filter(pk__in=task_ids, status__in=FINISHED_STATUSES).count()


WORKER_LINE = re.compile(
    r"task (?P<pk>\d+) worker time (?P<total>[\d.]+) ms, engine (?P<engine>[\d.]+) ms, "
    r"own (?P<own>[\d.]+) ms \((?P<parts>[^)]*)\)"
)
CELERY_LINE = re.compile(r"Task (?P<name>[\w.]+)\[[^\]]+\] succeeded in (?P<seconds>[\d.e-]+)s")


class WorkerLog:
    """What the worker logged since the last mark: imaging.tasks' time line per completed task
    and Celery's "succeeded in" per task."""

    def __init__(self, stack) -> None:
        self.paths = [stack.var_dir / "worker.log", stack.var_dir / "worker.out"]
        self.offsets = [0, 0]

    def mark(self) -> None:
        self.offsets = [p.stat().st_size if p.exists() else 0 for p in self.paths]

    def text(self) -> str:
        parts = []
        for path, offset in zip(self.paths, self.offsets, strict=True):
            if path.exists():
                with open(path, "rb") as log:
                    log.seek(offset)
                    parts.append(log.read().decode(errors="replace"))
        return "\n".join(parts)

    def task_parts(self) -> list[dict[str, float]]:
        """Per completed image task: total, engine, own and each part, in ms."""
        found = []
        for match in WORKER_LINE.finditer(self.text()):
            row = {k: float(match[k]) for k in ("total", "engine", "own")}
            for item in match["parts"].split(", "):
                name, _, value = item.rpartition(" ")
                row[name] = float(value)
            found.append(row)
        return found

    def celery_runtimes(self, name: str) -> list[float]:
        """Celery's own "succeeded in" per task of `name`, in ms."""
        return [
            float(m["seconds"]) * 1000
            for m in CELERY_LINE.finditer(self.text())
            if m["name"] == name
        ]


def percentile(values: list[float], q: float) -> float:
    from bench.api import percentile as nearest_rank

    return nearest_rank(values, q)


# --- the runs -----------------------------------------------------------------------------------


@dataclass
class Run:
    label: str
    mode: str  # "backlog" or "live"
    count: int
    completed: int
    enqueue_s: float  # enqueueing all of them
    wall_s: float  # backlog: first ran -> last ran; live: first enqueue -> last ran
    latencies_ms: list[float] = field(default_factory=list)  # enqueue -> start, per task
    parts: list[dict[str, float]] = field(default_factory=list)  # the worker's time lines

    @property
    def rate(self) -> float:
        """Backlog: the intervals between the first and the last task's end (the consumer takes
        up to a second to pick a resumed queue up again: not the queue path's time); live: all
        of them, from the first enqueue."""
        done = self.completed - 1 if self.mode == "backlog" else self.completed
        return done / self.wall_s if self.wall_s > 0 else float("nan")

    @property
    def enqueue_rate(self) -> float:
        return self.count / self.enqueue_s if self.enqueue_s > 0 else float("nan")


def noop_run(mode: str, count: int, timeout: float) -> Run:
    import redis
    from django.conf import settings

    key = f"{NOOP_KEY}:{uuid.uuid4().hex[:8]}"
    if mode == "backlog":
        consumer_pause()
    first = time.time()
    noop_publish(count, key)
    enqueue_s = time.time() - first
    if mode == "backlog":
        consumer_resume()
    client = redis.Redis.from_url(settings.REDIS_URL)
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: client.llen(key) >= count, timeout, "the no-op tasks", every=0.05)
    runs = noop_runs(key)
    client.delete(key)
    ends = [ran for _e, ran in runs] or [first]
    if mode == "backlog":
        first = min(ends)
    last = max(ends)
    return Run(
        label="raw no-op Celery task (baseline)",
        mode=mode,
        count=count,
        completed=len(runs),
        enqueue_s=enqueue_s,
        wall_s=last - first,
        latencies_ms=[(ran - enqueued) * 1000 for enqueued, ran in runs],
    )


def ours_run(stack, account, mode: str, count: int, timeout: float) -> Run:
    log = WorkerLog(stack)
    log.mark()
    if mode == "backlog":
        consumer_pause()
    first = time.time()
    task_ids = tasks_submit_cheap(account, count)
    enqueue_s = time.time() - first
    if mode == "backlog":
        consumer_resume()
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: tasks_finished(task_ids) >= count, timeout, "our tasks", every=0.1)
    times = task_times(task_ids)
    done = [t for t in times if t[2] is not None]
    ends = [t[2] for t in done] or [first]
    if mode == "backlog":
        first = min(ends)
    last = max(ends)
    return Run(
        label="enhance color 32x32 via task_submit",
        mode=mode,
        count=count,
        completed=tasks_completed(task_ids),
        enqueue_s=enqueue_s,
        wall_s=last - first,
        latencies_ms=[(s - c) * 1000 for c, s, _d in done if s is not None],
        parts=log.task_parts(),
    )


def warm_up(account) -> None:
    """Every pool process has imported the engine and opened its connections before a figure is
    taken: a few tasks of each kind, waited for."""
    noop_run("live", 4, 60)
    task_ids = tasks_submit_cheap(account, 6)
    done = lambda: tasks_finished(task_ids) >= len(task_ids)  # noqa: E731
    wait_until(done, 90, "the warm-up tasks", every=0.1)


# --- report -------------------------------------------------------------------------------------


def ms(value: float) -> str:
    return "-" if value != value else f"{value:.1f}"  # NaN


def print_report(runs: list[Run], parts: list[dict], celery: dict, args, stack) -> dict:
    print()
    print(
        f"Queue path on {stack.backend}: {args.tasks} tasks per run, worker concurrency "
        f"{args.worker_concurrency}, prefetch multiplier 1, acks late"
    )
    header = (
        f"{'tasks':<38} {'mode':<8} {'done':>9} {'enqueue/s':>9} {'tasks/s':>8} "
        f"{'vs no-op':>8} {'wait p50 ms':>11} {'wait p99 ms':>11}"
    )
    print(header)
    print("-" * len(header))
    by_mode = {r.mode: r for r in runs if r.label.startswith("raw")}
    for run in runs:
        base = by_mode[run.mode]
        ratio = run.rate / base.rate if base.rate else float("nan")
        print(
            f"{run.label:<38} {run.mode:<8} {f'{run.completed}/{run.count}':>9} "
            f"{run.enqueue_rate:>9.0f} {run.rate:>8.1f} {ratio:>7.2f}x "
            f"{ms(percentile(run.latencies_ms, 50)):>11} {ms(percentile(run.latencies_ms, 99)):>11}"
        )
    print(
        "  backlog: N queued while the worker's cpu consumer was paused, then resumed; tasks/s "
        "between the first and the last task's end; live: enqueued while it consumed, first "
        "enqueue to last end"
    )
    print()
    print(f"Worker time per completed image task ({len(parts)} tasks), ms:")
    order = ["total", "engine", "own", "claim", "inputs", "progress", "store", "finish", "other"]
    names = [n for n in order if any(n in row for row in parts)]
    modes = [(r.mode, r.parts) for r in runs if r.parts]
    header = f"{'part':<10}" + "".join(f" {m + ' p50':>12}" for m, _p in modes)
    header += f" {'all p50':>8} {'all p90':>8} {'all mean':>8}"
    print(header)
    print("-" * len(header))
    summary = {}
    for name in names:
        values = [row.get(name, 0.0) for row in parts]
        summary[name] = percentile(values, 50)
        mean = statistics.mean(values) if values else float("nan")
        line = f"{name:<10}" + "".join(
            f" {ms(percentile([row.get(name, 0.0) for row in rows], 50)):>12}" for _m, rows in modes
        )
        print(f"{line} {ms(summary[name]):>8} {ms(percentile(values, 90)):>8} {ms(mean):>8}")
    print(
        "  own = total - engine: claim (one call: lock the account, check its cap, lease the "
        "row), inputs (row + input file), progress (the cancel checks the engine calls back), "
        "store (result file), finish (complete the row, wake waiters, metrics, webhooks), other "
        "(the lease thread, which also writes progress; logging)"
    )
    noop_ms, real_ms = celery.get("bench.noop", []), celery.get("imaging.run", [])
    print(
        f"  Celery's own 'succeeded in' p50: no-op {ms(percentile(noop_ms, 50))} ms, image task "
        f"{ms(percentile(real_ms, 50))} ms (the task function, as the pool timed it)"
    )
    print()
    print("Changed for the benchmark (no product code):")
    for change in stack.changes:
        print(f"  - {change}")
    from bench.api import machine_info

    print(f"Machine: {machine_info(stack)}")
    return summary


def main() -> None:
    from bench.summary import Figure, figures_write, summary_argument

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 tasks per run (seconds)")
    parser.add_argument("--tasks", type=int, default=None, help="tasks per run (300)")
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--redis-db", type=int, default=int(os.environ.get("BENCH_REDIS_DB", "12")))
    parser.add_argument(
        "--database-prefix",
        default=os.environ.get("BENCH_DATABASE_PREFIX", "nanobanana_bench") + "_queue",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    summary_argument(parser)
    args = parser.parse_args()
    if args.tasks is None:
        args.tasks = 40 if args.quick else 300
    timeout = 20 if args.quick else 60

    if why := services_missing():
        print(f"bench/queueing.py needs PostgreSQL and Redis: {why}")
        sys.exit(EXIT_NO_SERVICES)
    signals_unwind()
    stack = services_stack(
        name="queue",
        database_prefix=args.database_prefix,
        redis_db=args.redis_db,
        worker_concurrency=args.worker_concurrency,
    )
    broken = False
    try:
        print(f"Queue benchmark on {stack.backend}; starting the stack...", flush=True)
        stack.start()
        _key, account = bench_account(stack)
        warm_up(account)
        log = WorkerLog(stack)
        log.mark()
        runs: list[Run] = []
        for mode in ("backlog", "live"):
            runs.append(noop_run(mode, args.tasks, timeout))
            runs.append(ours_run(stack, account, mode, args.tasks, timeout))
            print(f"  {mode}: " + ", ".join(f"{r.rate:.1f}/s" for r in runs[-2:]), flush=True)
        parts = [row for run in runs for row in run.parts]
        celery = {n: log.celery_runtimes(n) for n in ("bench.noop", "imaging.run")}
        summary = print_report(runs, parts, celery, args, stack)
        broken = any(r.completed != r.count for r in runs) or not parts
        if broken:
            print("ERROR: some tasks did not complete in time (see 'done' above)")
    except Exception:
        with contextlib.suppress(Exception):
            print("--- worker output ---\n" + stack.log_tail("worker.out"))
            print("--- worker log ---\n" + stack.log_tail("worker.log"))
        raise
    finally:
        from bench.api import stack_destroy

        stack_destroy(stack)

    backlog = {r.label.startswith("raw"): r for r in runs if r.mode == "backlog"}
    ratio = backlog[False].rate / backlog[True].rate if backlog[True].rate else float("nan")
    ratio_met = ratio >= RATIO_GOAL
    own_met = summary["own"] < OWN_TIME_GOAL_MS
    quick = args.quick
    figures_write(
        args.summary,
        [
            Figure(
                bench="queueing",
                figure="image tasks/s drained from a backlog (enhance color 32x32)",
                ours=round(backlog[False].rate, 2),
                baseline=round(backlog[True].rate, 2),
                baseline_name="raw no-op Celery tasks, same broker and worker",
                goal=f">= {RATIO_GOAL}x baseline",
                met=None if quick else ratio_met,
            ),
            Figure(
                bench="queueing",
                figure="worker's own time per task beside the engine, p50 ms",
                ours=round(summary["own"], 2),
                baseline=None,
                baseline_name="",
                goal=f"< {OWN_TIME_GOAL_MS:g} ms",
                met=None if quick else own_met,
            ),
        ],
    )
    print(
        f"Goals: backlog drain {ratio:.2f}x the no-op's (>= {RATIO_GOAL}x: "
        f"{'met' if ratio_met else 'NOT met'}); worker's own time p50 {summary['own']:.1f} ms "
        f"(< {OWN_TIME_GOAL_MS:g} ms: {'met' if own_met else 'NOT met'})"
    )
    sys.exit(1 if broken or (args.strict and not (ratio_met and own_met)) else 0)


if __name__ == "__main__":
    main()
