"""The reference's error envelope for everything under /v1, whichever layer failed."""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views import defaults
from rest_framework import exceptions as drf
from rest_framework.response import Response

from core.errors import (
    ApplicationError,
    FileTooLarge,
    InvalidApiKey,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    ProcessingError,
    RateLimitExceeded,
    TemporaryUnavailable,
    UnsupportedFormat,
    error_body,
)
from core.request_ids import is_api_path

logger = logging.getLogger(__name__)

MISSING_KEY_DETAILS = _("Missing API key: send the header 'Authorization: Bearer <API key>'")
UNEXPECTED_DETAILS = _("An unexpected error occurred; it has been logged.")


def validation_details(detail: Any, field: str = "") -> str:
    """DRF's nested error detail as one line naming each offending field: `prompt: …; width: …`."""
    if isinstance(detail, dict):
        return "; ".join(
            validation_details(value, f"{field}.{key}" if field else str(key))
            for key, value in detail.items()
        )
    if isinstance(detail, list):
        return "; ".join(validation_details(item, field) for item in detail)
    if field in ("", "non_field_errors"):
        return str(detail)
    return f"{field}: {detail}"


def application_error_for(exc: Exception) -> ApplicationError:
    """Translate DRF's and Django's exceptions into ours; anything unknown is a logged 500."""
    error = known_application_error_for(exc)
    if error is not None:
        return error
    logger.exception("Unhandled error in an API view", exc_info=exc)
    return ProcessingError(UNEXPECTED_DETAILS)


def known_application_error_for(exc: BaseException | None) -> ApplicationError | None:
    """Ours for the exceptions we know how to report, None for the unexpected."""
    match exc:
        case ApplicationError():
            return exc
        case DatabaseOperationalError() | DatabaseInterfaceError():
            logger.warning("database unavailable", exc_info=exc)
            return TemporaryUnavailable(_("The database is unreachable; retry shortly."))
        case RequestDataTooBig():
            return FileTooLarge(_("The request body is too large."))
        case drf.NotAuthenticated():
            return InvalidApiKey(MISSING_KEY_DETAILS)
        case drf.AuthenticationFailed():
            return InvalidApiKey(exc.detail)
        case drf.ValidationError():
            return InvalidRequest(validation_details(exc.detail))
        case drf.ParseError():
            return InvalidRequest(
                _("The request body could not be parsed: %(reason)s") % {"reason": exc.detail}
            )
        case drf.UnsupportedMediaType():
            return UnsupportedFormat(exc.detail)
        case drf.MethodNotAllowed():
            return MethodNotAllowed(exc.detail)
        case drf.NotFound() | Http404():
            return NotFound()
        case drf.Throttled():
            wait = int(exc.wait or 1)
            return RateLimitExceeded(exc.detail, headers={"Retry-After": str(max(wait, 1))})
        case drf.PermissionDenied() | PermissionDenied():
            return InvalidApiKey(_("This API key may not do that"))
        case drf.APIException() if exc.status_code == 503:
            return TemporaryUnavailable(exc.detail)
        case drf.APIException() if exc.status_code == 429:
            return RateLimitExceeded(exc.detail)
        case drf.APIException():
            error = InvalidRequest(exc.detail)
            error.http_status = exc.status_code
            return error
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    error = application_error_for(exc)
    headers = dict(error.headers)
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return Response(error_body(error), status=error.http_status, headers=headers)


def envelope_response(error: ApplicationError) -> JsonResponse:
    """The envelope outside DRF, with the error's headers (`Retry-After` on 429 and 503)."""
    return JsonResponse(error_body(error), status=error.http_status, headers=error.headers)


# Django's own 404 and 500 handlers, for what never reaches a DRF view (unknown /v1 paths,
# exceptions raised in middleware or while a request waits for its result). Outside /v1 the
# usual HTML pages stay.


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path):
        return envelope_response(NotFound())
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api_path(request.path):
        # Django calls this while handling the exception (and has logged it): one we know, such
        # as a database that went away, is reported as itself, the rest as a 500.
        error = known_application_error_for(sys.exception()) or ProcessingError(UNEXPECTED_DETAILS)
        return envelope_response(error)
    return defaults.server_error(request)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path):
        return envelope_response(InvalidRequest(_("Bad request")))
    return defaults.bad_request(request, exception)
