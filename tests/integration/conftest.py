"""Real processes: uvicorn serving the ASGI app and a Celery worker, on a database of their own."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

import psycopg
import pytest
import redis

from tests.conftest import process_env

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass
class Stack:
    base_url: str
    env: dict[str, str]
    worker_log: Path
    processes: list[subprocess.Popen] = field(default_factory=list)

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )

    def request(
        self,
        path: str,
        headers: dict[str, str] | None = None,
        method: str = "GET",
        body: dict | None = None,
        timeout: float = 10,
    ) -> tuple[int, Message, dict]:
        url = self.base_url + path
        data = None if body is None else json.dumps(body).encode()
        headers = {**(headers or {}), **({"Content-Type": "application/json"} if data else {})}
        req = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310
                return response.status, response.headers, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, error.headers, json.loads(error.read())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise TimeoutError(f"timed out waiting for {what}")


def _server_answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1)  # noqa: S310
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The embedded default, or PostgreSQL + Redis when the suite has them (CI)."""
    var_dir = tmp_path_factory.mktemp("var")
    env = process_env(
        NANOBANANA_VAR_DIR=str(var_dir),
        PYTHONUNBUFFERED="1",
        # Test image servers and webhook receivers listen on loopback.
        NANOBANANA_FETCH_ALLOW_HOSTS="127.0.0.1",
    )
    database_url = os.environ.get("DATABASE_URL", "")
    admin_dsn = ""
    db_name = f"nanobanana_it_{uuid.uuid4().hex[:8]}"
    if database_url.startswith("postgres"):
        admin_dsn = database_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db_name}"')
        env["DATABASE_URL"] = database_url.rsplit("/", 1)[0] + f"/{db_name}"
    if redis_url := os.environ.get("REDIS_URL", ""):
        # Not the suite's Redis database: the suite flushes that one between tests.
        env["REDIS_URL"] = redis_url.rsplit("/", 1)[0] + "/14"
        # Account ids restart with each database: an earlier run's rate-limit windows must go.
        redis.Redis.from_url(env["REDIS_URL"]).flushdb()

    port = _free_port()
    worker_log = var_dir / "worker.log"
    stack = Stack(base_url=f"http://127.0.0.1:{port}", env=env, worker_log=worker_log)
    stack.manage("migrate", "--noinput")
    try:
        stack.processes.append(
            subprocess.Popen(
                [
                    str(BIN / "celery"),
                    "-A",
                    "config",
                    "worker",
                    "--queues",
                    "cpu,gpu,celery",
                    "--loglevel",
                    "INFO",
                    "--concurrency",
                    "1",
                    "--logfile",
                    str(worker_log),
                ],
                cwd=ROOT,
                env=env,
            )
        )
        stack.processes.append(
            subprocess.Popen(
                [
                    str(BIN / "uvicorn"),
                    "config.asgi:application",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--lifespan",
                    "off",
                    "--log-level",
                    "warning",
                ],
                cwd=ROOT,
                env=env,
            )
        )
        _wait_until(lambda: _server_answers(stack.base_url + "/healthz"), 30, "uvicorn")
        _wait_until(
            lambda: worker_log.exists() and "ready." in worker_log.read_text(), 60, "the worker"
        )
        yield stack
    finally:
        for process in stack.processes:
            process.terminate()
        for process in stack.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if admin_dsn:
            with psycopg.connect(admin_dsn, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
