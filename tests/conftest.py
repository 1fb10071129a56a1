"""Shared fixtures: users and accounts made through the real services, API clients with keys."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import Account, User
from accounts.selectors import account_owner
from accounts.services import api_key_issue, user_create, user_personal_account_ensure
from billing import ratelimit
from tests.processes import process_env  # noqa: F401 (the fixtures' home re-exports it)

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_service(env_var: str, why: str) -> str:
    """The URL of a real service the test needs; skip without it, except in CI where it fails."""
    url = os.environ.get(env_var, "")
    if not url:
        if IN_CI:
            pytest.fail(f"{env_var} must be set in CI: {why}")
        pytest.skip(f"{env_var} not set: {why}")
    return url


def require_postgres(why: str) -> None:
    """Skip unless the test database is PostgreSQL, except in CI, where it fails: `why` the test
    needs it (its concurrency, triggers or query plans)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    if IN_CI:
        pytest.fail(f"CI must run this test on PostgreSQL: {why}")
    pytest.skip(f"needs PostgreSQL (DATABASE_URL=postgres://…): {why}")


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """No state carries over between tests: the cache (with Redis, the whole test database,
    rate-limit windows included) and the in-process rate-limit windows."""
    cache.clear()
    ratelimit._local_logs.clear()


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    counter = iter(range(1, 10_000))

    def make(email: str | None = None, password: str = "correct horse battery") -> User:
        return user_create(email=email or f"user{next(counter)}@example.com", password=password)

    return make


@pytest.fixture
def user(make_user: Callable[..., User]) -> User:
    return make_user(email="alice@example.com")


@pytest.fixture
def account(user: User) -> Account:
    return user_personal_account_ensure(user=user)


@pytest.fixture
def raw_key(account: Account) -> str:
    _api_key, raw = api_key_issue(
        account=account, name="test", created_by=account_owner(account=account)
    )
    return raw


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def authed_client(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


@pytest.fixture
def other_client(make_user: Callable[..., User]) -> APIClient:
    """An API client of a second, unrelated tenant."""
    other = user_personal_account_ensure(user=make_user(email="bob@example.com"))
    _api_key, raw = api_key_issue(account=other, name="b", created_by=account_owner(account=other))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def hanging_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (a frozen Redis or PostgreSQL)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in accepted:
        conn.close()
