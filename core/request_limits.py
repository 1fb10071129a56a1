"""What a request may make the server hold before Django sees it, enforced around the ASGI app:
headers of at most REQUEST_MAX_HEADER_BYTES (else 431), a body within REQUEST_BODY_TIMEOUT_SECONDS
of its headers (else 408). Details: docs/reliability-inputs.md#request-headers-and-bodies"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse, JsonResponse
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from core.errors import InvalidRequest, error_body
from core.request_ids import REQUEST_ID_HEADER, is_api_path, request_id_for

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestHeadersTooLarge(InvalidRequest):
    http_status = 431


class RequestBodyTimeout(InvalidRequest):
    http_status = 408


def request_head_bytes(scope: Scope) -> int:
    """The size of the request target and headers as sent, give or take the separators."""
    target = scope.get("raw_path") or scope["path"].encode()
    headers = sum(len(name) + len(value) + 4 for name, value in scope["headers"])  # ": ", CRLF
    return len(target) + len(scope.get("query_string", b"")) + headers


def request_limits(app: AsgiApp) -> AsgiApp:
    """`app` behind the header size cap and the body deadline (HTTP only)."""

    async def limited(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        limit = settings.REQUEST_MAX_HEADER_BYTES
        if request_head_bytes(scope) > limit:
            refusal = RequestHeadersTooLarge(
                _("The request line and headers exceed %(limit)d bytes.") % {"limit": limit}
            )
            await refusal_send(scope, send, refusal)
            return
        body = _BodyDeadline(scope, receive, send, seconds=settings.REQUEST_BODY_TIMEOUT_SECONDS)
        await app(scope, body.receive, body.send)

    return limited


class _BodyDeadline:
    """Wraps receive/send: until the body is complete, each receive waits at most the time left.
    When it runs out, the 408 is sent here and the application is told the client went away,
    which makes Django drop the request (it has not started a response: it reads the whole body
    first)."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, *, seconds: float) -> None:
        self._scope = scope
        self._receive = receive
        self._send = send
        self._end = time.monotonic() + seconds
        self._seconds = seconds
        self._body_complete = False
        self._response_started = False
        self._refused = False

    async def receive(self) -> Message:
        if self._refused:
            return {"type": "http.disconnect"}
        if self._body_complete:
            return await self._receive()  # Django listening for a disconnect: no deadline
        try:
            async with asyncio.timeout(max(0.0, self._end - time.monotonic())):
                message = await self._receive()
        except TimeoutError:
            return await self._timed_out()
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._body_complete = True
        return message

    async def send(self, message: Message) -> None:
        if self._refused:
            return  # the 408 has been sent: nothing else goes out on this request
        if message["type"] == "http.response.start":
            self._response_started = True
        await self._send(message)

    async def _timed_out(self) -> Message:
        self._refused = True
        if not self._response_started:
            refusal = RequestBodyTimeout(
                _("The request body did not arrive within %(seconds)g seconds.")
                % {"seconds": self._seconds}
            )
            await refusal_send(self._scope, self._send, refusal)
        return {"type": "http.disconnect"}


async def refusal_send(scope: Scope, send: Send, error: InvalidRequest) -> None:
    """Answer `error` without Django's handler (the envelope under /v1, text elsewhere), in the
    client's language, and close the connection: what is left of the request is never read."""
    request = ASGIRequest(scope, io.BytesIO())
    request_id = request_id_for(request)
    with translation.override(translation.get_language_from_request(request)):
        if is_api_path(request.path):
            response: HttpResponse = JsonResponse(
                error_body(error) | {"request_id": request_id},
                status=error.http_status,
                json_dumps_params={"ensure_ascii": False},
            )
        else:
            response = HttpResponse(
                str(error.details),
                status=error.http_status,
                content_type="text/plain; charset=utf-8",
            )
    response[REQUEST_ID_HEADER] = request_id
    response["Content-Length"] = str(len(response.content))
    response["Connection"] = "close"
    headers = [
        (name.encode("latin-1"), value.encode("latin-1")) for name, value in response.items()
    ]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})
