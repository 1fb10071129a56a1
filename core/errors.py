"""The one application error hierarchy (services raise these) and the envelope that shows them."""

from typing import Any, ClassVar

from django.http import Http404
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from core.request_ids import current_request_id


class ApplicationError(Exception):
    """A failure the caller can act on; `code` is one of the API reference's error codes."""

    code: ClassVar[str] = "PROCESSING_ERROR"
    http_status: ClassVar[int] = 500
    default_message: ClassVar[Promise | str] = _("Image processing failed")
    # Errors that retrying cures (429, 503) always tell the client when: the reference's envelope
    # promises `Retry-After` on them, so a raise that names no better figure gets this one.
    retry_after_seconds: ClassVar[int | None] = None

    def __init__(
        self,
        details: str | Promise | None = None,
        *,
        message: str | Promise | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message if message is not None else self.default_message
        self.details = details
        self.headers = dict(headers or {})
        if self.retry_after_seconds is not None:
            self.headers.setdefault("Retry-After", str(self.retry_after_seconds))
        super().__init__(str(details or self.message))


class InvalidApiKey(ApplicationError):
    code = "INVALID_API_KEY"
    http_status = 401
    default_message = _("Invalid or expired API key")


class InsufficientCredits(ApplicationError):
    code = "INSUFFICIENT_CREDITS"
    http_status = 402
    default_message = _("Insufficient credits")


class InvalidRequest(ApplicationError):
    code = "INVALID_REQUEST"
    http_status = 400
    default_message = _("Invalid request parameters")


class NotFound(ApplicationError, Http404):
    """Also Django's Http404: a dashboard view lets it through and Django answers its 404 page,
    as the API answers the envelope."""

    code = "NOT_FOUND"
    http_status = 404
    default_message = _("Not found")


class MethodNotAllowed(ApplicationError):
    code = "METHOD_NOT_ALLOWED"
    http_status = 405
    default_message = _("Method not allowed")


class TaskNotCancellable(ApplicationError):
    code = "TASK_NOT_CANCELLABLE"
    http_status = 409
    default_message = _("Task cannot be cancelled")


class IdempotencyConflict(ApplicationError):
    code = "IDEMPOTENCY_CONFLICT"
    http_status = 409
    default_message = _("Idempotency key already used")


class FileTooLarge(ApplicationError):
    code = "FILE_TOO_LARGE"
    http_status = 413
    default_message = _("File exceeds the size limit")


class UnsupportedFormat(ApplicationError):
    code = "UNSUPPORTED_FORMAT"
    http_status = 415
    default_message = _("Unsupported file format")


class RateLimitExceeded(ApplicationError):
    code = "RATE_LIMIT_EXCEEDED"
    http_status = 429
    default_message = _("Request rate exceeded")
    retry_after_seconds = 1


class ProcessingError(ApplicationError):
    """Also what an unexpected server error is reported as: the reference's only 5xx besides 503."""


class TemporaryUnavailable(ApplicationError):
    code = "TEMPORARY_UNAVAILABLE"
    http_status = 503
    default_message = _("Service temporarily unavailable")
    retry_after_seconds = 5


def error_body(error: ApplicationError) -> dict[str, Any]:
    """The reference's error envelope, with the request's id."""
    return {
        "success": False,
        "error": {
            "code": error.code,
            "message": str(error.message),
            "details": str(error.details) if error.details is not None else None,
        },
        "request_id": current_request_id(),
    }
