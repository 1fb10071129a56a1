"""Request ids: every response carries X-Request-ID and every log line made meanwhile shows it."""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Awaitable
from contextvars import ContextVar, Token

from django.http import HttpRequest, HttpResponse

from core.hybrid_middleware import HybridMiddleware

REQUEST_ID_HEADER = "X-Request-ID"
# A client's own id is kept when it is a plain token, so it can correlate its logs with ours.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_current_request_id: ContextVar[str] = ContextVar("request_id", default="-")
access_log = logging.getLogger("api.access")


def current_request_id() -> str:
    return _current_request_id.get()


def request_id_for(request: HttpRequest) -> str:
    candidate = request.headers.get(REQUEST_ID_HEADER, "")
    if _SANE_REQUEST_ID.match(candidate):
        return candidate
    return f"req_{secrets.token_hex(12)}"


def is_api_path(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


def install_request_id_log_records() -> None:
    """Give every log record a `request_id`, whichever handler ends up formatting it."""
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "adds_request_id", False):
        return

    def make_record_with_request_id(*args: object, **kwargs: object) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        record.request_id = current_request_id()
        return record

    make_record_with_request_id.adds_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make_record_with_request_id)


class RequestIdMiddleware(HybridMiddleware):
    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if self.is_async:
            return self._acall(request)
        started, token = self._begin(request)
        try:
            return self._finish(request, self.get_response(request), started)
        finally:
            _current_request_id.reset(token)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        started, token = self._begin(request)
        try:
            return self._finish(request, await self.get_response(request), started)
        finally:
            _current_request_id.reset(token)

    def _begin(self, request: HttpRequest) -> tuple[float, Token[str]]:
        request_id = request_id_for(request)
        # An attribute of our own (HttpRequest declares none such): `_finish` reads it back.
        request.request_id = request_id  # type: ignore[attr-defined]
        return time.perf_counter(), _current_request_id.set(request_id)

    def _finish(self, request: HttpRequest, response: HttpResponse, started: float) -> HttpResponse:
        response[REQUEST_ID_HEADER] = request.request_id  # type: ignore[attr-defined]
        if is_api_path(request.path):
            access_log.info(
                "%s %s %s %.1fms",
                request.method,
                request.path,
                response.status_code,
                (time.perf_counter() - started) * 1000,
            )
        return response
