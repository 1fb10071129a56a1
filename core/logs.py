"""Structured logs: what each line knows of its context (request, task, account) and the JSON
format that LOG_FORMAT=json selects (config/settings/base.py LOGGING)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    task_postrun,
    task_prerun,
)
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from core.hybrid_middleware import HybridMiddleware
from core.request_ids import current_request_id

# Besides the request id (core.request_ids): our task's public id, the Celery message's id and
# the tenant, each bound where it becomes known (API authentication, the task runner).
CONTEXT_FIELDS = ("task_id", "celery_task_id", "account_id")
_EMPTY: Mapping[str, str] = MappingProxyType({})
_context: ContextVar[Mapping[str, str]] = ContextVar("log_context", default=_EMPTY)


def log_context() -> Mapping[str, str]:
    return _context.get()


def log_context_bind(**fields: object) -> None:
    """Add `fields` to every line logged from here to the end of the current request or Celery
    task (a None value adds nothing)."""
    added = {name: str(value) for name, value in fields.items() if value is not None}
    _context.set(MappingProxyType({**_context.get(), **added}))


@contextmanager
def log_context_scope(**fields: object) -> Iterator[None]:
    """A fresh context (holding `fields`) inside, the previous one restored after."""
    token = _context.set(_EMPTY)
    try:
        log_context_bind(**fields)
        yield
    finally:
        _context.reset(token)


class LogContextMiddleware(HybridMiddleware):
    """Each request starts with an empty log context and leaves none behind (a thread serves
    many requests under WSGI and in tests)."""

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if self.is_async:
            return self._acall(request)
        with log_context_scope():
            return self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        with log_context_scope():
            return await self.get_response(request)


# What every LogRecord has; anything else on a record came from `extra=` and is logged too.
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, request_id, task_id,
    celery_task_id, account_id (null where unknown), `extra=` fields, and the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None) or current_request_id()
        context = log_context()
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": None if request_id == "-" else request_id,
            **{name: context.get(name) for name in CONTEXT_FIELDS},
        }
        for name, value in vars(record).items():
            if name not in _RECORD_FIELDS and not name.startswith("_"):
                line.setdefault(name, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


# --- Celery: a context per task, and JSON lines from the worker's own handlers ------------------
_task_tokens: dict[str, Token[Mapping[str, str]]] = {}


@task_prerun.connect(weak=False)
def _task_begins(task_id: str | None = None, **_kwargs: object) -> None:
    if task_id:
        _task_tokens[task_id] = _context.set(MappingProxyType({"celery_task_id": task_id}))


@task_postrun.connect(weak=False)
def _task_ends(task_id: str | None = None, **_kwargs: object) -> None:
    token = _task_tokens.pop(task_id or "", None)
    if token is None:
        return
    try:
        _context.reset(token)
    except ValueError:  # set in another context (never under Celery's pools): just empty it
        _context.set(_EMPTY)


@after_setup_logger.connect(weak=False)
@after_setup_task_logger.connect(weak=False)
def _worker_handlers_json(logger: logging.Logger | None = None, **_kwargs: object) -> None:
    """Celery replaces the root logger's handlers with its own (stderr or --logfile): under
    LOG_FORMAT=json they write JSON lines too."""
    if logger is None or settings.LOG_FORMAT != "json":
        return
    for handler in logger.handlers:
        handler.setFormatter(JsonFormatter())
