"""The real stack as processes: uvicorn, a Celery worker and (optionally) beat sharing a var/
folder, on the embedded default or on given PostgreSQL and Redis servers (`LiveStack`: the
integration tests' `stack` fixture and `make bench`); and a stack whose parts a test may break,
with Redis and PostgreSQL servers of its own, never the machine's shared ones (`FaultStack`: the
fault suite and `make reliability`)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

from tests.processes import process_env

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FINISHED = {"completed", "failed", "cancelled"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, *, every: float = 0.1
) -> float:
    """Seconds until `predicate` held, asked `every` seconds; TimeoutError naming `what` after
    `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def server_answers(url: str) -> bool:
    """Whether an HTTP server answers at `url`, with any status."""
    try:
        urllib.request.urlopen(url, timeout=2)  # noqa: S310 (our own server)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def process_stop(process: subprocess.Popen | None, timeout: float = 10) -> None:
    """SIGTERM, and SIGKILL when `process` is still there after `timeout` seconds."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def postgres_bin() -> Path | None:
    """Debian's PostgreSQL server binaries, when installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


def missing_parts() -> str:
    """Why a fault stack cannot run here ('' when it can)."""
    if not shutil.which("redis-server"):
        return "redis-server is not installed"
    if postgres_bin() is None:
        return "PostgreSQL's server binaries are not installed"
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "runuser is needed to run PostgreSQL as the postgres user"
    return ""


@dataclass
class RedisServer:
    """A redis-server that keeps nothing on disk, as in many deployments."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    host: str = "127.0.0.1"  # the address it listens on

    def url(self, db: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", self.host, "--save", "",
             "--appendonly", "no", "--dir", tempfile.gettempdir(), "--loglevel", "warning",
             # Off loopback, clients on other hosts (namespaces) may connect without a password.
             "--protected-mode", "yes" if self.host == "127.0.0.1" else "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self.answers, 10, "redis-server")

    def answers(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """Gone at once, and with it everything it held."""
        if self.process:
            self.process.kill()
            self.process.wait()

    def freeze(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)


@dataclass
class PostgresCluster:
    """A throw-away PostgreSQL cluster of the suite's own, on a port of its own."""

    port: int = field(default_factory=free_port)
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="nb-faults-pg-")))
    host: str = "127.0.0.1"  # the address it listens on

    def url(self, db: str = "nanobanana") -> str:
        return f"postgres://postgres@{self.host}:{self.port}/{db}"

    def _run(self, *args: str) -> None:
        command = [str(postgres_bin() / args[0]), *args[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        data = self.folder / "data"
        if not data.exists():
            if os.geteuid() == 0:
                shutil.chown(self.folder, "postgres", "postgres")
            self._run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
            if self.host != "127.0.0.1":  # clients on the host's subnets too (initdb: loopback)
                with (data / "pg_hba.conf").open("a") as hba:
                    hba.write("host all all samenet trust\n")
        self._pg_ctl("start")
        self._run("createdb", "-h", self.host, "-p", str(self.port), "-U", "postgres",
                  "nanobanana")  # fmt: skip

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = (
            f"-p {self.port} -c listen_addresses={self.host} -k {self.folder} -c fsync=off "
            "-c max_connections=100"
        )
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-o", options, "-l",
                  str(self.folder / "log"), "-w", *extra, action)  # fmt: skip

    def restart(self) -> None:
        """A fast restart: every open connection is cut."""
        self._pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        try:
            self._pg_ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


@dataclass(kw_only=True)
class LiveStack:
    """uvicorn and a Celery worker (and beat when asked) sharing `var_dir`; PostgreSQL and Redis
    when their URLs are given, else the embedded SQLite and filesystem broker. `settings` is
    extra environment for every process (DJANGO_SETTINGS_MODULE too), `process_settings` for one
    ("web", "worker", "beat") over it; `web_options` and `worker_options` are extra command-line
    options for uvicorn and the worker."""

    var_dir: Path
    database_url: str = ""
    redis_url: str = ""
    settings: dict[str, str] = field(default_factory=dict)
    process_settings: dict[str, dict[str, str]] = field(default_factory=dict)
    with_beat: bool = False
    worker_concurrency: int = 1
    web_options: tuple[str, ...] = ()
    worker_options: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    web: subprocess.Popen | None = None
    worker: subprocess.Popen | None = None
    beat: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def worker_log(self) -> Path:
        return self.var_dir / "worker.log"

    @property
    def results_dir(self) -> Path:
        """Where the worker writes results (MEDIA_ROOT/results on the base settings)."""
        return self.var_dir / "media" / "results"

    @contextlib.contextmanager
    def results_unwritable(self) -> Iterator[None]:
        """Every result write fails while inside (a file where the results folder was): the
        worker's real failure path, which fails the task and refunds it."""
        results = self.results_dir
        moved = results.with_name("results-moved")
        if results.exists():
            results.rename(moved)
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text("not a folder: every result write fails")
        try:
            yield
        finally:
            results.unlink()
            if moved.exists():
                moved.rename(results)

    @property
    def env(self) -> dict[str, str]:
        services = {"DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url}
        return process_env(
            NANOBANANA_VAR_DIR=str(self.var_dir),
            PYTHONUNBUFFERED="1",
            # Test image servers and webhook receivers listen on loopback.
            NANOBANANA_FETCH_ALLOW_HOSTS="127.0.0.1",
            **{name: url for name, url in services.items() if url},
            **self.settings,
        )

    def request(
        self,
        path: str,
        headers: dict[str, str] | None = None,
        method: str = "GET",
        body: dict | None = None,
        timeout: float = 10,
    ) -> tuple[int, Message, dict]:
        """One JSON request: status, headers and the decoded body, for errors too."""
        data = None if body is None else json.dumps(body).encode()
        headers = {**(headers or {}), **({"Content-Type": "application/json"} if data else {})}
        req = urllib.request.Request(  # noqa: S310 (our own server)
            self.base_url + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310
                return response.status, response.headers, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, error.headers, json.loads(error.read())

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120, check=check,
        )  # fmt: skip

    def start(self) -> None:
        self.manage("migrate", "--noinput")
        self.worker_start()
        if self.with_beat:
            self.beat = self._spawn("beat", "celery", "-A", "config", "beat", "--loglevel",
                                    "WARNING", "--schedule",
                                    str(self.var_dir / "beat-schedule"))  # fmt: skip
        self.web_start()

    def web_start(self) -> None:
        self.web = self._spawn("web", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
                               "--port", str(self.port), "--lifespan", "off",
                               "--log-level", "warning", *self.web_options)  # fmt: skip
        wait_until(self.answers, 30, "uvicorn")

    def web_restart(self) -> None:
        """A fresh uvicorn on the same port: nothing of the old process's state carries over."""
        self._end(self.web)
        self.web_start()

    def _spawn(self, name: str, program: str, *args: str) -> subprocess.Popen:
        # A process group of its own: killing it takes the pool children along. What it prints
        # goes to var/<name>.out, read when a test fails.
        with (self.var_dir / f"{name}.out").open("ab") as log:
            return subprocess.Popen(
                [str(BIN / program), *args], cwd=ROOT, start_new_session=True,
                env={**self.env, **self.process_settings.get(name, {})},
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def log_tail(self, name: str, lines: int = 30) -> str:
        """The last `lines` lines of var/`name` ("web.out", "worker.out", "worker.log", ...)."""
        path = self.var_dir / name
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def answers(self) -> bool:
        return server_answers(self.base_url + "/healthz")

    def worker_start(self) -> float:
        """Starts the worker; the seconds until it said it was ready."""
        started = time.monotonic()
        log = self.worker_log
        offset = log.stat().st_size if log.exists() else 0
        self.worker = self._spawn("worker", "celery", "-A", "config", "worker", "--queues",
                                  "cpu,gpu,celery", "--concurrency", str(self.worker_concurrency),
                                  "--loglevel", "INFO", "--logfile", str(log),
                                  *self.worker_options)  # fmt: skip
        # Bytes: the log holds Chinese prompts, so a character index is not the byte offset.
        ready = lambda: log.exists() and b"ready." in log.read_bytes()[offset:]  # noqa: E731
        wait_until(ready, 90, "the worker")
        return time.monotonic() - started

    def worker_children(self) -> list[int]:
        """The pool processes of the worker (they run the tasks)."""
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.worker.pid:
                children.append(int(stat.parent.name))
        return children

    def worker_kill(self) -> None:
        """The worker's host dies: main process and pool, no goodbye to the broker."""
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait()

    def worker_stop(self) -> None:
        self.worker.terminate()
        self.worker.wait(timeout=60)

    def stop(self) -> None:
        for process in (self.web, self.worker, self.beat):
            self._end(process)

    @staticmethod
    def _end(process: subprocess.Popen | None) -> None:
        if process and process.poll() is None:
            # SIGTERM to the main process only: a pool process terminated too while the
            # worker shuts down leaves billiard waiting for its queue lock for ever.
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=20)
        if process:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # whatever of the group is left
            process.wait()


@dataclass(kw_only=True)
class FaultStack(LiveStack):
    """A LiveStack with beat, on a Redis server and a PostgreSQL cluster of its own."""

    redis: RedisServer
    postgres: PostgresCluster
    with_beat: bool = True

    def __post_init__(self) -> None:
        self.database_url = self.postgres.url()
        self.redis_url = self.redis.url()


def bench_quick(script: str) -> subprocess.CompletedProcess:
    """`bench/<script> --quick`, as its test runs it; fails the test with the output's tail unless
    it exits 0, or, for a benchmark `make bench` runs, unless it wrote its headline figures for
    the combined table (bench/summary.py), each a finite number."""
    from bench.all import BENCHES
    from bench.summary import figures_read

    with tempfile.TemporaryDirectory(prefix="nb-bench-") as folder:
        summary = Path(folder) / "summary.json"
        extra = ["--summary", str(summary)] if script.removesuffix(".py") in BENCHES else []
        run = subprocess.run(
            [sys.executable, f"bench/{script}", "--quick", *extra],
            cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
        if extra:
            figures = figures_read(summary) if summary.exists() else []
            assert figures, f"bench/{script} wrote no figures for make bench's table"
            assert all(math.isfinite(figure.ours) for figure in figures), figures
    return run
