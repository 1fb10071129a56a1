"""The SDK's exceptions: one class per error code of the API, and the transport failures."""

from __future__ import annotations

import re
from typing import Any

import httpx

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "ConflictError",
    "FileTooLargeError",
    "InsufficientCreditsError",
    "InvalidApiKeyError",
    "InvalidRequestError",
    "NanoBananaError",
    "NotFoundError",
    "ProcessingError",
    "RateLimitError",
    "TaskCancelledError",
    "TaskTimeoutError",
    "TemporaryUnavailableError",
    "UnsupportedFormatError",
    "WebhookVerificationError",
]


class NanoBananaError(Exception):
    """Base of every error this SDK raises.

    `code` is the API's error code (`INVALID_REQUEST`, ...), `status_code` the HTTP status,
    `message` and `details` the envelope's texts and `request_id` the server's id for the request
    (quote it to support). Errors raised before anything reached the server leave the HTTP
    attributes None."""

    code: str | None = None
    status_code: int | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: str | None = None,
        request_id: str | None = None,
        response: httpx.Response | None = None,
        body: Any = None,
    ) -> None:
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.details = details
        self.request_id = request_id
        self.response = response
        self.body = body
        super().__init__(message)

    def __str__(self) -> str:
        text = self.message
        if self.details and self.details not in text:
            text = f"{text}: {self.details}"
        if self.code:
            text = f"[{self.code}] {text}"
        if self.request_id:
            text = f"{text} (request_id={self.request_id})"
        return text


class APIStatusError(NanoBananaError):
    """The server answered with an error status (4xx/5xx)."""


class InvalidApiKeyError(APIStatusError):
    code = "INVALID_API_KEY"
    status_code = 401


class InsufficientCreditsError(APIStatusError):
    code = "INSUFFICIENT_CREDITS"
    status_code = 402


class InvalidRequestError(APIStatusError):
    code = "INVALID_REQUEST"
    status_code = 400


class NotFoundError(APIStatusError):
    code = "NOT_FOUND"
    status_code = 404


class ConflictError(APIStatusError):
    """409: `IDEMPOTENCY_CONFLICT` (a key reused with other parameters) or
    `TASK_NOT_CANCELLABLE` (the task is running or finished)."""

    status_code = 409


class FileTooLargeError(APIStatusError):
    """413, or refused before upload when a file exceeds the largest plan's limit.
    `limit_bytes` is the limit that was exceeded, when known."""

    code = "FILE_TOO_LARGE"
    status_code = 413

    def __init__(self, message: str, *, limit_bytes: int | None = None, **kwargs: Any) -> None:
        self.limit_bytes = limit_bytes
        super().__init__(message, **kwargs)


class UnsupportedFormatError(APIStatusError):
    code = "UNSUPPORTED_FORMAT"
    status_code = 415


class RateLimitError(APIStatusError):
    """429; `retry_after` is the seconds the server asked to wait (None when it did not say)."""

    code = "RATE_LIMIT_EXCEEDED"
    status_code = 429

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class ProcessingError(APIStatusError):
    """500 PROCESSING_ERROR, or a task that failed while the SDK waited for it (its credits are
    refunded by the server)."""

    code = "PROCESSING_ERROR"
    status_code = 500

    def __init__(self, message: str, *, task_id: str | None = None, **kwargs: Any) -> None:
        self.task_id = task_id
        super().__init__(message, **kwargs)


class TemporaryUnavailableError(APIStatusError):
    code = "TEMPORARY_UNAVAILABLE"
    status_code = 503

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class APIConnectionError(NanoBananaError):
    """The request did not get an answer: DNS, refused or reset connection, TLS..."""

    def __init__(self, message: str = "Connection error.", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)


class APITimeoutError(APIConnectionError):
    """A request timed out (the client's `timeout`)."""

    def __init__(self, message: str = "Request timed out.", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)


class TaskTimeoutError(NanoBananaError, TimeoutError):
    """`wait_for_task`'s deadline passed before the task finished. `task_id` names it;
    `cancelled` says whether it was cancelled (`cancel_on_timeout=True`)."""

    def __init__(self, message: str, *, task_id: str, cancelled: bool = False) -> None:
        self.task_id = task_id
        self.cancelled = cancelled
        super().__init__(message)


class TaskCancelledError(NanoBananaError):
    """The task was cancelled (and refunded) while the SDK waited for it."""

    code = "TASK_CANCELLED"

    def __init__(self, message: str, *, task_id: str) -> None:
        self.task_id = task_id
        super().__init__(message)


class WebhookVerificationError(NanoBananaError):
    """A webhook's signature or timestamp did not check out: do not trust its body."""


_BY_CODE: dict[str, type[APIStatusError]] = {
    "INVALID_API_KEY": InvalidApiKeyError,
    "INSUFFICIENT_CREDITS": InsufficientCreditsError,
    "INVALID_REQUEST": InvalidRequestError,
    "FILE_TOO_LARGE": FileTooLargeError,
    "UNSUPPORTED_FORMAT": UnsupportedFormatError,
    "RATE_LIMIT_EXCEEDED": RateLimitError,
    "PROCESSING_ERROR": ProcessingError,
    "TEMPORARY_UNAVAILABLE": TemporaryUnavailableError,
    "NOT_FOUND": NotFoundError,
    "IDEMPOTENCY_CONFLICT": ConflictError,
    "TASK_NOT_CANCELLABLE": ConflictError,
}

_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: InvalidRequestError,
    401: InvalidApiKeyError,
    402: InsufficientCreditsError,
    403: InvalidApiKeyError,
    404: NotFoundError,
    409: ConflictError,
    413: FileTooLargeError,
    415: UnsupportedFormatError,
    429: RateLimitError,
    503: TemporaryUnavailableError,
}

_LIMIT_BYTES = re.compile(r"(\d{4,})\s*(?:bytes|字节)")


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """`Retry-After` in seconds (a number or an HTTP date), or None."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    import email.utils
    import time

    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(float(moment.timestamp()) - time.time(), 0.0)


def error_from_response(response: httpx.Response) -> APIStatusError:
    """The exception for an error answer, from the API's envelope
    (`{"success": false, "error": {"code", "message", "details"}, "request_id"}`)."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        message = str(error.get("message") or "")
        details = error.get("details")
    else:
        code, details = None, None
        message = response.text[:500] if response.content else ""
    message = message or response.reason_phrase or f"HTTP {response.status_code}"
    request_id = (body.get("request_id") if isinstance(body, dict) else None) or (
        response.headers.get("x-request-id")
    )
    cls = _BY_CODE.get(code or "") or _BY_STATUS.get(response.status_code)
    if cls is None:
        cls = ProcessingError if response.status_code >= 500 else APIStatusError
    kwargs: dict[str, Any] = {
        "code": code,
        "status_code": response.status_code,
        "details": details,
        "request_id": request_id,
        "response": response,
        "body": body,
    }
    if cls in (RateLimitError, TemporaryUnavailableError):
        kwargs["retry_after"] = retry_after_seconds(response.headers)
    if cls is ProcessingError and isinstance(body, dict) and isinstance(body.get("task_id"), str):
        kwargs["task_id"] = body["task_id"]  # the operation failed while the request waited
    if cls is FileTooLargeError:
        limit = _LIMIT_BYTES.search(str(details or ""))
        if limit:
            limit_bytes = int(limit.group(1))
            kwargs["limit_bytes"] = limit_bytes
            message = f"{message} (your plan's limit: {_megabytes(limit_bytes)})"
    return cls(message, **kwargs)


def _megabytes(size: int) -> str:
    mb = size / (1024 * 1024)
    return f"{mb:.0f} MB" if mb == int(mb) else f"{mb:.1f} MB"
