"""GET /healthz: can this process reach its database and its broker?"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.celery import app as celery_app
from core.errors import TemporaryUnavailable

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


CHECKS: dict[str, Callable[[], None]] = {"database": database_check, "broker": broker_check}


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
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    if healthy:
        return JsonResponse(body)
    # Like every 503 of ours: load balancers and probes may use it to space their retries.
    retry_after = str(TemporaryUnavailable.retry_after_seconds)
    return JsonResponse(body, status=503, headers={"Retry-After": retry_after})
