"""GET /healthz: can this process reach its database and its broker, and which operations run
on real models and which on the demo ones? GET /readyz: do the database, the broker and the
storage each answer within READYZ_TIMEOUT_SECONDS?"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.celery import app as celery_app
from core.errors import TemporaryUnavailable
from imaging.model_status import operation_models
from imaging.notifications import connections_release

logger = logging.getLogger(__name__)


def database_check() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def broker_check() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=settings.REDIS_SOCKET_TIMEOUT)
        client = getattr(conn.default_channel, "client", None)
        if client is not None and hasattr(client, "ping"):
            client.ping()  # the Redis transport connects lazily; make it talk


def storage_check() -> None:
    """Local storage: its folder can be written (made first, as the first save would); other
    storages (S3): one metadata request answers."""
    if isinstance(default_storage, FileSystemStorage):
        location = Path(default_storage.location)
        location.mkdir(parents=True, exist_ok=True)
        if not os.access(location, os.W_OK | os.X_OK):
            raise PermissionError(f"{location} is not writable")
        return
    default_storage.exists("readyz-probe")


CHECKS: dict[str, Callable[[], None]] = {"database": database_check, "broker": broker_check}
READY_CHECKS: dict[str, Callable[[], None]] = {**CHECKS, "storage": storage_check}


def _run(check: Callable[[], None]) -> dict[str, object]:
    started = time.perf_counter()
    try:
        check()
    except Exception as error:  # any failure means "down"; the reason goes to the log
        logger.warning("health check %s failed: %s", check.__name__, error)
        return {"ok": False, "error": type(error).__name__}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {name: _run(check) for name, check in CHECKS.items()}
    healthy = all(result["ok"] for result in checks.values())
    body = {
        "status": "ok" if healthy else "unavailable",
        "checks": checks,
        # "real" or "demo" per operation, not the ids or folders (this page needs no key);
        # `manage.py imaging_models` shows those, with devices and memory.
        "models": {choice.operation.value: choice.kind for choice in operation_models()},
    }
    if healthy:
        return JsonResponse(body)
    # Like every 503 of ours: load balancers and probes may use it to space their retries.
    retry_after = str(TemporaryUnavailable.retry_after_seconds)
    return JsonResponse(body, status=503, headers={"Retry-After": retry_after})


@never_cache
@require_GET
async def readyz(request: HttpRequest) -> JsonResponse:
    """200 when every check passed, else 503 with `failed` naming the checks that did not. The
    checks run at once, each on a thread of its own, so neither the event loop nor the thread
    of the sync views waits on them."""
    results = await asyncio.gather(*(_ready_run(check) for check in READY_CHECKS.values()))
    checks = dict(zip(READY_CHECKS, results, strict=True))
    failed = [name for name, result in checks.items() if not result["ok"]]
    body = {"status": "unavailable" if failed else "ok", "checks": checks, "failed": failed}
    if not failed:
        return JsonResponse(body)
    retry_after = str(TemporaryUnavailable.retry_after_seconds)
    return JsonResponse(body, status=503, headers={"Retry-After": retry_after})


async def _ready_run(check: Callable[[], None]) -> dict[str, object]:
    """The check's result, or a timeout after READYZ_TIMEOUT_SECONDS. A daemon thread of its own,
    not the loop's executor: one that hangs is left behind, and nothing waits to join it."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[dict[str, object]] = loop.create_future()

    def settle(result: dict[str, object]) -> None:
        if not done.done():
            done.set_result(result)

    def run() -> None:
        try:
            result = _run(check)
        finally:
            connections_release()  # this thread serves no request: nothing else would
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, result)

    threading.Thread(target=run, name=f"readyz-{check.__name__}", daemon=True).start()
    timeout = settings.READYZ_TIMEOUT_SECONDS
    try:
        return await asyncio.wait_for(done, timeout)
    except TimeoutError:
        logger.warning("readiness check %s took over %s s", check.__name__, timeout)
        return {"ok": False, "error": "Timeout"}
