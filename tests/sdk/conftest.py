"""The SDKs' tests run against the real stack (uvicorn and a Celery worker, started by
tests/integration/stack.py): the integration tests' `stack` fixture, and keys from the ops CLI."""

from __future__ import annotations

import itertools

import pytest

from tests.integration.conftest import Stack, stack  # noqa: F401 (the fixture)

_emails = (f"sdk{n}@example.com" for n in itertools.count())


def api_key_issue(live: Stack, *, plan: str = "pro", credits: int = 1000) -> str:
    """A fresh account on `plan` with `credits`, and its new API key."""
    issued = live.manage("issue_api_key", "--email", next(_emails), "--plan", plan,
                          "--credits", str(credits))  # fmt: skip
    return issued.stdout.strip().splitlines()[-1]


@pytest.fixture
def api_key(stack: Stack) -> str:  # noqa: F811
    return api_key_issue(stack)
