"""Benchmark: the API under load over loopback: 202 submits against a bare DRF view on the same
server in the same run, and hundreds of clients waiting synchronously for their results.

Run: `make bench`, or `.venv/bin/python bench/api.py [--quick] [--duration S] [--concurrency N]
[--waiters N] [--embedded] [--env NAME=VALUE] [--strict]`. Starts the real stack on a database of
its own (uvicorn serving `config.asgi:application` with bench-only settings that add
`/v1/bench-bare`, and a Celery worker), drives it from a separate load process (bench/api_load.py),
prints the tables, and removes everything on exit, Ctrl-C included. PostgreSQL + Redis when
DATABASE_URL / REDIS_URL are set or the local servers answer (database
`nanobanana_bench_<random>`, Redis db 13, flushed), else the embedded default.

Goals: submits (202) at 32 concurrent >= 0.5x the bare view's throughput with p99 < 50 ms, and
<= 3x its server CPU per request (ms of the server process's CPU per answer); 500 sync
waiters add < 200 MB to the server's RSS and see their answer < 20 ms (p50) after the task's
`completed_at`. Exits 1 on wrong answers (errors, clients left waiting); with --strict also
when a goal is missed. `--summary PATH` also writes the headline figures as JSON.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.summary import Figure, cpu_model, figures_write, summary_argument  # noqa: E402
from tests.integration.stack import LiveStack  # noqa: E402

LOAD = ROOT / "bench" / "api_load.py"
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
BENCH_REDIS_DB = 13
UNLIMITED = 1_000_000_000  # fits PostgreSQL's integer column

SUBMIT_GOAL_RATIO = 0.5
SUBMIT_GOAL_P99_MS = 50.0
# Server CPU per 202 submit, as a multiple of the bare view's per request on the same server.
SUBMIT_GOAL_CPU_RATIO = 3.0
WAIT_GOAL_RSS_MB = 200.0
WAIT_GOAL_P50_MS = 20.0
EMBEDDED_WAITERS = 100
STALL_SECONDS = 20


# --- the stack --------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Stack(LiveStack):
    """The real stack (tests/integration/stack.py) on a database of the bench's own, with what the
    report needs to know about it."""

    backend: str = ""  # "PostgreSQL + Redis" or "embedded (SQLite + filesystem broker; why)"
    admin_dsn: str = ""
    admin: object = None  # one psycopg connection kept open: the server may exhaust the rest
    admin_lock: threading.Lock = field(default_factory=threading.Lock)
    db_name: str = ""
    clients: list[subprocess.Popen] = field(default_factory=list)  # load processes
    changes: list[str] = field(default_factory=list)


def _postgres_reachable(dsn: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(dsn, connect_timeout=2):
            return True
    except Exception:
        return False


def _redis_reachable(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except Exception:
        return False


def stack_create(*, embedded: bool, sync_wait: float, worker_concurrency: int) -> Stack:
    """Choose the backend, make its database, and point this process's Django at it."""
    stack = Stack(
        var_dir=Path(tempfile.mkdtemp(prefix="nanobanana-bench-api-")),
        settings={
            "DJANGO_SETTINGS_MODULE": "bench.api_settings",
            "API_SYNC_WAIT_SECONDS": str(sync_wait),
            # Text-to-image submits pass the GPU queue-depth check (its count query still runs).
            "IMAGING_GPU_QUEUE_MAX_DEPTH": str(UNLIMITED),
        },
        worker_concurrency=worker_concurrency,
        web_options=("--no-access-log", "--timeout-graceful-shutdown", "5"),
        worker_options=("--without-gossip", "--without-mingle"),
    )
    stack.changes += [
        "uvicorn: one process, as `make run` starts it, but with --no-access-log; a fresh one "
        "for each scenario",
        f"API_SYNC_WAIT_SECONDS={sync_wait:g} (waiters must outlast the whole worker run)",
        f"IMAGING_GPU_QUEUE_MAX_DEPTH={UNLIMITED} (thousands of text-to-image 202s stay pending)",
    ]
    pg_server = os.environ.get("DATABASE_URL", "") or DEFAULT_POSTGRES
    redis_server = os.environ.get("REDIS_URL", "") or DEFAULT_REDIS
    admin_dsn = pg_server.rsplit("/", 1)[0] + "/postgres"
    redis_url = redis_server.rsplit("/", 1)[0] + f"/{BENCH_REDIS_DB}"
    if (
        not embedded
        and pg_server.startswith("postgres")
        and _postgres_reachable(admin_dsn)
        and _redis_reachable(redis_url)
    ):
        import psycopg
        import redis

        stack.backend = "PostgreSQL + Redis"
        stack.admin_dsn, stack.db_name = admin_dsn, f"nanobanana_bench_{uuid.uuid4().hex[:8]}"
        stack.admin = psycopg.connect(admin_dsn, autocommit=True)
        stack.admin.execute(f'CREATE DATABASE "{stack.db_name}"')
        redis.Redis.from_url(redis_url).flushdb()
        stack.database_url = pg_server.rsplit("/", 1)[0] + f"/{stack.db_name}"
        stack.redis_url = redis_url
        stack.changes.append(f"Redis db {BENCH_REDIS_DB} flushed before and after the run")
    else:
        why = "--embedded" if embedded else "PostgreSQL or Redis not reachable"
        stack.backend = f"embedded (SQLite + filesystem broker; {why})"
    env_use(stack)
    return stack


def env_use(stack: Stack) -> None:
    """This process's own Django (migrations, the account, reading tasks back) and the load
    processes run with the stack's environment."""
    env = stack.env
    for key in list(os.environ):
        if key not in env:
            del os.environ[key]
    os.environ.update(env)


def stack_destroy(stack: Stack) -> None:
    # Load clients first, so the server is not left holding their connections.
    for client in stack.clients:
        if client.poll() is None:
            client.terminate()
    deadline = time.monotonic() + 10
    for client in stack.clients:
        try:
            client.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            client.kill()
            client.wait()
    stack.stop()
    with contextlib.suppress(Exception):
        from django.db import connections

        connections.close_all()
    if stack.db_name:
        import psycopg

        with contextlib.suppress(Exception):
            stack.admin.close()
        with psycopg.connect(stack.admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{stack.db_name}" WITH (FORCE)')
    if stack.redis_url:
        import redis

        with contextlib.suppress(Exception):
            redis.Redis.from_url(stack.redis_url).flushdb()
    shutil.rmtree(stack.var_dir, ignore_errors=True)


def stack_prepare(stack: Stack) -> str:
    """Migrate, create the bench account and key, lift its plan's limits; returns the key."""
    import django

    django.setup()
    from django.core.management import call_command

    from billing.models import Plan

    call_command("migrate", "--noinput", verbosity=0)
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "issue_api_key",
        "--email",
        "bench@example.com",
        "--plan",
        "max",
        "--credits",
        "1000000",
        stdout=out,
        stderr=err,
    )
    key = out.getvalue().strip().splitlines()[-1]
    plan = Plan.objects.get(code="max")
    stack.changes.append(
        "bench database only: plan 'max' requests_per_minute "
        f"{plan.requests_per_minute} -> {UNLIMITED}, requests_per_day "
        f"{plan.requests_per_day} -> {UNLIMITED} (the limiter still runs on every request)"
    )
    Plan.objects.filter(pk=plan.pk).update(
        requests_per_minute=UNLIMITED, requests_per_day=UNLIMITED
    )
    # This process keeps its database connection open from here on: the server may take all the
    # others, and the bench still has to read its tasks back.
    return key


def queues_purge() -> int:
    """Drop the queued messages of earlier scenarios (202 submits nobody will wait for)."""
    from config.celery import app

    dropped = 0
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in ("cpu", "gpu", "celery"):
            with contextlib.suppress(Exception):
                dropped += channel.queue_purge(queue) or 0
    return dropped


# --- load ---------------------------------------------------------------------------------------


def tiny_png_data_url(size: int = 64) -> str:
    from PIL import Image

    image = Image.new("RGB", (size, size))
    image.putdata([((x * 4) % 256, (y * 4) % 256, 128) for y in range(size) for x in range(size)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def load_spec(stack: Stack, **spec: object) -> dict:
    return {"host": "127.0.0.1", "port": stack.port, **spec}


def load_run(spec: dict, timeout: float) -> dict:
    result = subprocess.run(
        [sys.executable, str(LOAD)],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"load process failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


# --- diagnostics: what the time and the failures are made of -------------------------------------

_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exceeded)): (.*)$")
_CONNECT_NOISE = re.compile(r'connection to server at "[^"]*", port \d+ failed: ')


_RECORD_START = re.compile(r"^\[?\d{4}-\d\d-\d\d[ T]")  # ours "2026-…", Celery's "[2026-…"


class ServerLog:
    """The exceptions a process logged since the last mark, counted by type and message."""

    def __init__(self, stack: Stack, name: str = "web.out") -> None:
        self.path = stack.var_dir / name
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def exceptions(self) -> Counter:
        if not self.path.exists():
            return Counter()
        with open(self.path, "rb") as log:
            log.seek(self.offset)
            text = log.read().decode(errors="replace")
        # One count per log record: the last exception line of its traceback (a chained one,
        # psycopg's error re-raised as Django's, shows both).
        found: Counter = Counter()
        last = None
        for line in [*text.splitlines(), "2000-01-01 end"]:
            if _RECORD_START.match(line):
                if last is not None:
                    found[last] += 1
                last = None
            elif match := _EXCEPTION_LINE.match(line.strip()):
                last = f"{match[1]}: {_CONNECT_NOISE.sub('', match[2])[:100]}"
        return found


def pg_query(stack: Stack, sql: str) -> object:
    if not stack.db_name:
        return None
    with stack.admin_lock:
        return stack.admin.execute(sql, {"db": stack.db_name}).fetchone()[0]


def pg_sessions(stack: Stack) -> int | None:
    """Connections ever opened to the bench database (pg_stat_database.sessions, PostgreSQL 14+)."""
    with contextlib.suppress(Exception):
        return pg_query(stack, "SELECT sessions FROM pg_stat_database WHERE datname = %(db)s")
    return None


def server_cpu_seconds(stack: Stack) -> float:
    times = psutil.Process(stack.web.pid).cpu_times()
    return times.user + times.system


@dataclass
class SubmitRow:
    label: str
    expected: int
    requests: int
    rate: float
    p50: float
    p99: float
    statuses: dict[str, int]
    errors: int
    cpu_ms: float  # server process CPU per answered request
    sessions_per_request: float | None
    exceptions: Counter


def submit_scenario(stack: Stack, label: str, expected: int, args, **request: object) -> SubmitRow:
    spec = load_spec(
        stack,
        mode="closed",
        concurrency=args.concurrency,
        duration=args.duration,
        warmup=args.warmup,
        **request,
    )
    # A fresh server process for each scenario, so one scenario's leftovers (threads, connections
    # awaiting garbage collection) do not weigh on the next one's figures.
    if stack.web is None:
        stack.web_start()
    else:
        stack.web_restart()
    # A fresh process pays once for what it builds on first use (imports, compiled queries,
    # pools): a second of the same requests first, so the CPU counted is the steady state's.
    load_run({**spec, "duration": 1.0, "warmup": 0.0}, timeout=60)
    log = ServerLog(stack)
    log.mark()
    sessions_before, cpu_before = pg_sessions(stack), server_cpu_seconds(stack)
    out = load_run(spec, timeout=args.warmup + args.duration + 60)
    cpu = server_cpu_seconds(stack) - cpu_before
    sessions_after = pg_sessions(stack)
    answered = max(out["answered"], 1)
    latencies = [x * 1000 for x in out["latencies"]]
    row = SubmitRow(
        label=label,
        expected=expected,
        requests=len(latencies),
        rate=len(latencies) / out["elapsed"],
        p50=percentile(latencies, 50),
        p99=percentile(latencies, 99),
        statuses=out["statuses"],
        errors=out["error_count"],
        cpu_ms=cpu * 1000 / answered,
        sessions_per_request=None
        if sessions_before is None or sessions_after is None
        else (sessions_after - sessions_before) / answered,
        exceptions=log.exceptions(),
    )
    print(
        f"  {label}: {row.requests} requests, {row.rate:.0f}/s, statuses {row.statuses}"
        + (f", {row.errors} connection errors {out['errors']}" if row.errors else ""),
        flush=True,
    )
    return row


class ServerSampler(threading.Thread):
    """Samples the server process every 10 ms (RSS, threads) and, on PostgreSQL, the number of
    connections to the bench database every 100 ms; keeps the peaks."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.process = psutil.Process(stack.web.pid)
        self.peak_rss = self.process.memory_info().rss
        self.peak_threads = self.process.num_threads()
        self.peak_db_connections = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        ticks = 0
        while not self.stopped.wait(0.01):
            with contextlib.suppress(psutil.Error):
                self.peak_rss = max(self.peak_rss, self.process.memory_info().rss)
                self.peak_threads = max(self.peak_threads, self.process.num_threads())
            ticks += 1
            if self.stack.db_name and ticks % 10 == 0:
                with contextlib.suppress(Exception):  # the bench may be tearing down
                    count = pg_query(
                        self.stack, "SELECT count(*) FROM pg_stat_activity WHERE datname = %(db)s"
                    )
                    self.peak_db_connections = max(self.peak_db_connections, int(count))

    def stop(self) -> None:
        self.stopped.set()
        self.join()


class NotificationTap(threading.Thread):
    """Listens on the product's task-finished channel (when the tree has one and Redis is used)
    and notes when each task's message arrived, splitting completion->response in two."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(daemon=True)
        # Redis pub/sub ignores the db number: other installs on this Redis publish here too, so
        # keep every time a task id was seen and match on the first one after its completion.
        self.seen: dict[int, list[float]] = {}
        self.stopped = threading.Event()
        self.pubsub = None
        try:
            from imaging.notifications import CHANNEL
        except ImportError:
            return
        if stack.redis_url:
            import redis

            self.pubsub = redis.Redis.from_url(stack.redis_url).pubsub(
                ignore_subscribe_messages=True
            )
            self.pubsub.subscribe(CHANNEL)  # subscribed before the worker starts

    def run(self) -> None:
        if self.pubsub is None:
            return
        while not self.stopped.is_set():
            message = self.pubsub.get_message(timeout=0.1)
            if message is not None:
                with contextlib.suppress(ValueError):
                    self.seen.setdefault(int(message["data"]), []).append(time.time())

    def stop(self) -> None:
        self.stopped.set()
        if self.pubsub is not None:
            self.join()
            self.pubsub.close()


@dataclass
class WaitResult:
    clients: int
    statuses: dict[str, int]
    completed_200: int
    rss_before_mb: float
    rss_peak_mb: float
    rss_after_mb: float
    threads_before: int
    threads_peak: int
    db_connections_peak: int
    submit_s: float
    submitted: int
    worker_ready_s: float
    worker_rate: float
    completed_tasks: int
    c2r_ms: list[float]
    c2n_ms: list[float]  # completed_at -> the notification seen on Redis (empty: no channel)
    n2r_ms: list[float]  # the notification seen -> the client has the answer
    client_wall_s: float
    exceptions: Counter
    worker_exceptions: Counter
    stalled: int  # tasks left unfinished when the bench stopped waiting (0: it did not)


def waiters_scenario(stack: Stack, key: str, image: str, args) -> WaitResult:
    """N clients each POST once without `Prefer: respond-async` and wait for the 200.

    The worker is started only once all N tasks exist, so all N clients are waiting at the same
    time (the peak the memory goal is about); completion->response is per request: the client's
    receive time minus the task's `completed_at`, both wall clocks of this machine.
    """

    from imaging.models import Task

    stack.web_restart()
    # Warm the new server's code paths (imports, first connections) with a few 202 submits.
    body = {"image_url": image, "enhancement_type": "color", "output_format": "png"}
    auth = {"Authorization": f"Bearer {key}"}
    warm = load_spec(
        stack,
        mode="closed",
        concurrency=2,
        duration=1.0,
        warmup=0.0,
        method="POST",
        path="/v1/enhance",
        headers={**auth, "Prefer": "respond-async"},
        body=body,
    )
    load_run(warm, timeout=60)
    dropped = queues_purge()
    print(
        f"  server restarted and warmed; purged {dropped} queued messages nobody waits for",
        flush=True,
    )
    tasks_before = Task.unscoped_objects.count()
    last_pk = Task.unscoped_objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    time.sleep(0.5)
    log = ServerLog(stack)
    log.mark()
    server = psutil.Process(stack.web.pid)
    rss_before, threads_before = server.memory_info().rss, server.num_threads()
    sampler = ServerSampler(stack)
    sampler.start()
    tap = NotificationTap(stack)
    tap.start()
    spec = load_spec(
        stack,
        mode="once",
        concurrency=args.waiters,
        arrivals_per_second=args.arrival_rate,
        timeout=args.sync_wait + 60,
        method="POST",
        path="/v1/enhance",
        headers=auth,
        body=body,
    )
    spec_file = stack.var_dir / "waiters.json"
    spec_file.write_text(json.dumps(spec))
    started = time.monotonic()
    with open(spec_file) as spec_in:
        client = subprocess.Popen(
            [sys.executable, str(LOAD)],
            stdin=spec_in,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    stack.clients.append(client)
    # Wait until every client's task exists, or none has appeared for 5 s (some requests failed;
    # the first tasks may take a while on a swamped server).
    submitted, last_change = 0, time.monotonic()
    while submitted < args.waiters and client.poll() is None:
        time.sleep(0.05)
        now_submitted = Task.unscoped_objects.count() - tasks_before
        if now_submitted != submitted:
            submitted, last_change = now_submitted, time.monotonic()
        elif time.monotonic() - last_change > 5 and (submitted or time.monotonic() - started > 30):
            break
    submit_s = time.monotonic() - started
    print(
        f"  {submitted} of {args.waiters} tasks submitted in {submit_s:.1f} s; starting the worker",
        flush=True,
    )
    worker_ready_s = stack.worker_start()
    # A run where no task finishes for STALL_SECONDS cannot recover in time: stop the waiters
    # still open rather than sit out API_SYNC_WAIT_SECONDS.
    finished, progress_at, stalled = 0, time.monotonic(), 0
    while client.poll() is None:
        time.sleep(0.5)
        now_finished = (
            Task.unscoped_objects.filter(pk__gt=last_pk)
            .exclude(status__in=[Task.Status.PENDING, Task.Status.PROCESSING])
            .count()
        )
        if now_finished != finished:
            finished, progress_at = now_finished, time.monotonic()
        elif time.monotonic() - progress_at > STALL_SECONDS:
            stalled = submitted - finished
            print(f"  no task finished for {STALL_SECONDS} s; stopping the waiters", flush=True)
            client.send_signal(signal.SIGTERM)
            break
    stdout, stderr = client.communicate(timeout=60)
    client_wall_s = time.monotonic() - started
    sampler.stop()
    tap.stop()
    rss_after = server.memory_info().rss
    if client.returncode != 0:
        raise RuntimeError(f"load process failed:\n{stderr[-3000:]}")
    results = json.loads(stdout)["results"]

    statuses: dict[str, int] = {}
    for r in results:
        statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
    ok = {r["task_id"]: r["received"] for r in results if r["status"] == 200 and r["task_id"]}
    rows = Task.unscoped_objects.filter(public_id__in=list(ok)).values_list(
        "public_id", "pk", "completed_at"
    )
    completed = {tid: (pk, at) for tid, pk, at in rows if at is not None}
    c2r, c2n, n2r = [], [], []
    for tid, (pk, at) in completed.items():
        c2r.append((ok[tid] - at.timestamp()) * 1000)
        if seen := [t for t in tap.seen.get(pk, ()) if t >= at.timestamp()]:
            c2n.append((min(seen) - at.timestamp()) * 1000)
            n2r.append((ok[tid] - min(seen)) * 1000)
    times = sorted(
        c.timestamp()
        for c in Task.unscoped_objects.filter(
            pk__gt=last_pk, status=Task.Status.COMPLETED
        ).values_list("completed_at", flat=True)
    )
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else float("nan")
    mb = 1024 * 1024
    return WaitResult(
        clients=args.waiters,
        statuses=statuses,
        completed_200=len(c2r),
        rss_before_mb=rss_before / mb,
        rss_peak_mb=sampler.peak_rss / mb,
        rss_after_mb=rss_after / mb,
        threads_before=threads_before,
        threads_peak=sampler.peak_threads,
        db_connections_peak=sampler.peak_db_connections,
        submit_s=submit_s,
        submitted=submitted,
        worker_ready_s=worker_ready_s,
        worker_rate=rate,
        completed_tasks=len(times),
        c2r_ms=c2r,
        c2n_ms=c2n,
        n2r_ms=n2r,
        client_wall_s=client_wall_s,
        exceptions=log.exceptions(),
        worker_exceptions=ServerLog(stack, "worker.log").exceptions(),
        stalled=stalled,
    )


# --- report -------------------------------------------------------------------------------------


def machine_info(stack: Stack) -> str:
    cpu = cpu_model()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    parts = [
        f"{os.cpu_count()} CPUs ({cpu})",
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM",
        f"Python {platform.python_version()}",
        f"load average {load}",
    ]
    if stack.db_name:
        version = pg_query(stack, "SHOW server_version")
        limit = pg_query(stack, "SHOW max_connections")
        parts.append(f"PostgreSQL {str(version).split()[0]} (max_connections {limit})")
        import redis

        parts.append(f"Redis {redis.Redis.from_url(stack.redis_url).info()['redis_version']}")
    return ", ".join(parts)


def print_exceptions(found: Counter, indent: str = "    ") -> None:
    for text, count in found.most_common(3):
        print(f"{indent}{count} x {text}")


def submit_cpu(row: SubmitRow, bare: SubmitRow) -> tuple[float, bool]:
    """A 202 submit's server CPU per request as a multiple of the bare view's, and whether it
    meets the goal (only with the answers it should give)."""
    ratio = row.cpu_ms / bare.cpu_ms if bare.cpu_ms else float("nan")
    return ratio, ratio <= SUBMIT_GOAL_CPU_RATIO and set(row.statuses) == {str(row.expected)}


def submit_met(row: SubmitRow, bare: SubmitRow) -> bool:
    """The throughput goal of a 202 row: a share of the bare view's rate, a p99, right answers."""
    ratio = row.rate / bare.rate if bare.rate else float("nan")
    return (
        ratio >= SUBMIT_GOAL_RATIO
        and row.p99 < SUBMIT_GOAL_P99_MS
        and set(row.statuses) == {str(row.expected)}
    )


def waiters_met(wait: WaitResult) -> bool:
    return (
        wait.rss_peak_mb - wait.rss_before_mb < WAIT_GOAL_RSS_MB
        and percentile(wait.c2r_ms, 50) < WAIT_GOAL_P50_MS
        and wait.completed_200 == wait.clients
    )


def summary_figures(rows: list[SubmitRow], wait: WaitResult | None) -> list[Figure]:
    """The headline figures for `make bench`'s table: the enhance submit (the 202 every client
    sends most) against the bare view, and the waiters."""
    bare, submit = rows[0], rows[1]
    figures = [
        Figure(
            "api", "server CPU ms per 202 submit", submit.cpu_ms, bare.cpu_ms, "bare DRF view",
            f"<= {SUBMIT_GOAL_CPU_RATIO:g}x baseline", submit_cpu(submit, bare)[1],
        ),
        Figure(
            "api", "202 submits/s, 32 concurrent", submit.rate, bare.rate, "bare DRF view",
            f">= {SUBMIT_GOAL_RATIO}x baseline", submit_met(submit, bare),
        ),
        Figure(
            "api", "202 submit p99 ms", submit.p99, None, "", f"< {SUBMIT_GOAL_P99_MS:g} ms",
            submit.p99 < SUBMIT_GOAL_P99_MS,
        ),
    ]  # fmt: skip
    if wait is not None:
        met = waiters_met(wait)
        figures += [
            Figure(
                "api", f"extra server RSS MB, {wait.clients} sync waiters",
                wait.rss_peak_mb - wait.rss_before_mb, None, "", f"< {WAIT_GOAL_RSS_MB:g} MB", met,
            ),
            Figure(
                "api", "sync waiter completion->response p50 ms",
                percentile(wait.c2r_ms, 50) if wait.c2r_ms else float("nan"), None, "",
                f"< {WAIT_GOAL_P50_MS:g} ms", met,
            ),
        ]  # fmt: skip
    return figures


def print_report(stack: Stack, rows: list[SubmitRow], wait: WaitResult | None, args) -> bool:
    bare = rows[0]
    print()
    print(
        f"Submit throughput, {args.concurrency} concurrent keep-alive connections, "
        f"{args.duration:g} s measured after {args.warmup:g} s warm-up, on {stack.backend}"
    )
    header = (
        f"{'scenario':<40} {'requests':>8} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'vs bare':>7}  {'goal':<25} {'met?':<4}"
    )
    print(header)
    print("-" * len(header))
    all_met = True
    for row in rows:
        ratio = row.rate / bare.rate if bare.rate else float("nan")
        if row is bare:
            goal, met = "baseline", ""
        else:
            goal = f">= {SUBMIT_GOAL_RATIO}x, p99 < {SUBMIT_GOAL_P99_MS:g} ms"
            ok = submit_met(row, bare)
            all_met &= ok
            met = "yes" if ok else "NO"
        print(
            f"{row.label:<40} {row.requests:>8} {row.rate:>6.0f} {row.p50:>7.1f} "
            f"{row.p99:>7.1f} {ratio:>6.2f}x  {goal:<25} {met:<4}"
        )
    print()
    print("What the submit time is made of (same runs):")
    header = (
        f"{'scenario':<40} {'server CPU ms/req':>17} {'new DB connections/req':>22} {'answers':<24}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        sessions = "-" if row.sessions_per_request is None else f"{row.sessions_per_request:.2f}"
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(row.statuses.items()))
        if row.errors:
            answers += f", {row.errors} conn. errors"
        print(f"{row.label:<40} {row.cpu_ms:>17.2f} {sessions:>22} {answers:<24}")
        print_exceptions(row.exceptions)
    print()
    header = (
        f"{'server CPU per request':<40} {'ms':>6} {'bare ms':>7} {'ratio':>6}  "
        f"{'goal':<25} {'met?':<4}"
    )
    print(header)
    print("-" * len(header))
    for row in rows[1:]:
        ratio, ok = submit_cpu(row, bare)
        all_met &= ok
        print(
            f"{row.label:<40} {row.cpu_ms:>6.2f} {bare.cpu_ms:>7.2f} {ratio:>5.2f}x  "
            f"{f'<= {SUBMIT_GOAL_CPU_RATIO:g}x bare':<25} {'yes' if ok else 'NO':<4}"
        )
    if wait is not None:
        print()
        print(
            f"Sync-waiting clients (POST /v1/enhance color 64x64, no Prefer header), arriving "
            f"{args.arrival_rate:g}/s, worker concurrency {args.worker_concurrency}"
        )
        p50 = percentile(wait.c2r_ms, 50)
        p99 = percentile(wait.c2r_ms, 99)
        extra = wait.rss_peak_mb - wait.rss_before_mb
        header = (
            f"{'clients':>7} {'completed 200s':>14} {'extra RSS MB':>12} "
            f"{'completion->response p50 / p99 ms':>34}  {'goal':<36} {'met?':<4}"
        )
        print(header)
        print("-" * len(header))
        ok = waiters_met(wait)
        all_met &= ok
        goal = f"< {WAIT_GOAL_RSS_MB:g} MB, p50 < {WAIT_GOAL_P50_MS:g} ms, all 200"
        latency = f"{p50:.1f} / {p99:.1f}" if wait.c2r_ms else "- (no 200s)"
        print(
            f"{wait.clients:>7} {wait.completed_200:>14} {extra:>12.1f} "
            f"{latency:>34}  {goal:<36} {'yes' if ok else 'NO':<4}"
        )
        print(
            f"  answers: {', '.join(f'{k}: {v}' for k, v in sorted(wait.statuses.items()))}"
            " (0 = no HTTP answer)"
        )
        print_exceptions(wait.exceptions, indent="  server logged: ")
        print_exceptions(wait.worker_exceptions, indent="  worker logged: ")
        if wait.stalled:
            print(
                f"  STALLED: no task finished for {STALL_SECONDS} s with {wait.stalled} still "
                "unfinished; the clients still waiting were stopped (status 0)"
            )
        print(
            f"  server RSS before / peak / after: {wait.rss_before_mb:.1f} / "
            f"{wait.rss_peak_mb:.1f} / {wait.rss_after_mb:.1f} MB; threads "
            f"{wait.threads_before} -> peak {wait.threads_peak}"
            + (
                f"; peak connections to the bench database {wait.db_connections_peak}"
                if stack.db_name
                else ""
            )
        )
        if wait.c2r_ms:
            print(
                f"  completion->response min / mean / max: {min(wait.c2r_ms):.1f} / "
                f"{statistics.mean(wait.c2r_ms):.1f} / {max(wait.c2r_ms):.1f} ms"
            )
        if wait.c2n_ms:
            print(
                "  split at the task-finished message (a bench subscriber on the same channel): "
                f"completed_at -> message p50 / p99 {percentile(wait.c2n_ms, 50):.1f} / "
                f"{percentile(wait.c2n_ms, 99):.1f} ms; message -> client has the answer "
                f"{percentile(wait.n2r_ms, 50):.1f} / {percentile(wait.n2r_ms, 99):.1f} ms"
            )
        print(
            f"  {wait.submitted} tasks submitted in {wait.submit_s:.1f} s, then the worker "
            f"started ({wait.worker_ready_s:.1f} s to ready); it completed "
            f"{wait.completed_tasks} ({wait.worker_rate:.1f} tasks/s, this bounds the run); "
            "last client answered "
            f"{wait.client_wall_s:.1f} s after the first request"
        )
    print()
    print("Changed for the benchmark (no product code):")
    for change in stack.changes:
        print(f"  - {change}")
    print(f"Machine: {machine_info(stack)}")
    return all_met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--waiters", type=int, default=None, help="sync-waiting clients (500; embedded 100)"
    )
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument(
        "--arrival-rate",
        type=float,
        default=15.0,
        help="sync waiters arrive at this many per second (0: all at once); each then waits",
    )
    parser.add_argument("--sync-wait", type=float, default=90.0, help="API_SYNC_WAIT_SECONDS")
    parser.add_argument("--quick", action="store_true", help="3 s runs, 100 waiters")
    parser.add_argument("--embedded", action="store_true", help="SQLite + filesystem broker")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    summary_argument(parser)
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra setting for the server and worker, e.g. DATABASE_CONN_MAX_AGE=0 (repeatable)",
    )
    args = parser.parse_args()
    if args.quick:
        args.duration, args.warmup = 3.0, 1.0
        args.waiters = 100 if args.waiters is None else args.waiters

    # Ctrl-C and SIGTERM both unwind through the finally below (also when started from a shell
    # that had SIGINT ignored, as background jobs are).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    stack = stack_create(
        embedded=args.embedded,
        sync_wait=args.sync_wait,
        worker_concurrency=args.worker_concurrency,
    )
    if args.waiters is None:
        args.waiters = 500 if stack.db_name else EMBEDDED_WAITERS
        if not stack.db_name:
            stack.changes.append(
                f"{EMBEDDED_WAITERS} waiters, not 500: the filesystem broker is polled once a "
                "second, so the worker gets ~2 tasks/s (500 would outlast the wait)"
            )
    for item in args.env:
        name, _, value = item.partition("=")
        stack.settings[name] = os.environ[name] = value
        stack.changes.append(f"{name}={value} (--env)")
    try:
        print(f"API load benchmark on {stack.backend}; setting up...", flush=True)
        key = stack_prepare(stack)
        image = tiny_png_data_url()
        auth = {"Authorization": f"Bearer {key}"}
        submit = {**auth, "Prefer": "respond-async"}
        enhance = {"image_url": image, "enhancement_type": "color", "output_format": "png"}
        rows = [
            submit_scenario(
                stack,
                "bare DRF APIView, POST /v1/bench-bare (200)",
                200,
                args,
                method="POST",
                path="/v1/bench-bare",
                headers=auth,
                body=enhance,
            ),
            submit_scenario(
                stack,
                "POST /v1/enhance, 64x64 data URL (202)",
                202,
                args,
                method="POST",
                path="/v1/enhance",
                headers=submit,
                body=enhance,
            ),
            submit_scenario(
                stack,
                "POST /v1/text-to-image (202)",
                202,
                args,
                method="POST",
                path="/v1/text-to-image",
                headers=submit,
                body={"prompt": "a banana", "width": 64, "height": 64},
            ),
        ]
        wait = waiters_scenario(stack, key, image, args) if args.waiters > 0 else None
        met = print_report(stack, rows, wait, args)
        figures_write(args.summary, summary_figures(rows, wait))
        broken = any(
            set(r.statuses) - {str(r.expected)} or r.errors or not r.requests for r in rows
        ) or (wait is not None and wait.completed_200 != wait.clients)
        if broken:
            print("ERROR: unexpected answers or failed clients (see 'answers' above)")
    except Exception:
        with contextlib.suppress(Exception):
            print("--- server log ---\n" + stack.log_tail("web.out"))
            print("--- worker output ---\n" + stack.log_tail("worker.out"))
            print("--- worker log ---\n" + stack.log_tail("worker.log"))
        raise
    finally:
        stack_destroy(stack)
    sys.exit(1 if broken or (args.strict and not met) else 0)


if __name__ == "__main__":
    main()
