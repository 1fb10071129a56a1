"""Real processes: uvicorn serving the ASGI app and a Celery worker, on a database of their own
(tests/integration/stack.py starts them)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis

from tests.integration.stack import BIN, ROOT, LiveStack

# The integration tests' name for the stack (the fixture below).
Stack = LiveStack

__all__ = ["BIN", "ROOT", "Stack", "stack"]


def live_stack_run(live: LiveStack, *, database_prefix: str, redis_db: int) -> Iterator[LiveStack]:
    """Run `live` on the suite's services when it has them (CI): a PostgreSQL database of its
    own, made here and dropped after, and Redis database `redis_db`, emptied first (account ids
    restart with each database, so an earlier run's rate-limit windows must go)."""
    database_url = os.environ.get("DATABASE_URL", "")
    admin_dsn = ""
    db_name = f"{database_prefix}_{uuid.uuid4().hex[:8]}"
    if database_url.startswith("postgres"):
        admin_dsn = database_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db_name}"')
        live.database_url = database_url.rsplit("/", 1)[0] + f"/{db_name}"
    if redis_url := os.environ.get("REDIS_URL", ""):
        live.redis_url = redis_url.rsplit("/", 1)[0] + f"/{redis_db}"
        redis.Redis.from_url(live.redis_url).flushdb()
    try:
        live.start()
        yield live
    finally:
        live.stop()
        if admin_dsn:
            with psycopg.connect(admin_dsn, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The embedded default, or PostgreSQL + Redis when the suite has them (CI)."""
    live = Stack(var_dir=tmp_path_factory.mktemp("var"))
    # Not the suite's Redis database (15): the suite flushes that one between tests.
    yield from live_stack_run(live, database_prefix="nanobanana_it", redis_db=14)
