"""The schema's shared components: the API key security scheme, the image-URL and callback-URL
field schemes with the patterns they state, and the error envelope with each status's meaning.

Its extensions register with drf-spectacular on import (api.apps and api.schema.hooks import it).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema_serializer
from rest_framework import serializers

from api.parsers import MAX_JSON_DEPTH
from api.schema.examples import API_KEY_DESCRIPTION, API_KEY_EXAMPLE
from api.serializers import FalseField
from core.errors import ApplicationError
from core.outgoing import MAX_URL_LENGTH as IMAGE_URL_MAX_LENGTH

IMAGE_SOURCE_PATTERN = "^(https?://|data:image/)"

# The request rules as patterns, so a schema-valid request is one the server takes (schemathesis'
# positive-data check holds us to it). Each reads the same in ECMA 262 and Python.
# - What DRF's CharField refuses in every string: NUL and lone surrogates; and, unless blank is
#   allowed, a value that is empty once whitespace is trimmed. (Both patterns need a character:
#   drf-spectacular adds the empty string as a `oneOf` alternative when blank is allowed.)
_TEXT_CHAR = r"[^\x00\ud800-\udfff]"
TEXT_PATTERN = rf"^{_TEXT_CHAR}+$"
NON_BLANK_TEXT_PATTERN = rf"^{_TEXT_CHAR}*[^\s\x00\ud800-\udfff]{_TEXT_CHAR}*$"
# - What `imaging.inputs.outgoing_url_parse` takes (image URLs, webhooks): http or https (the
#   server takes any case of a scheme; the schema names the usual one), no credentials, a host
#   name (its last label starting with a letter, as every public suffix does) or an IPv4
#   address, a port, then printable ASCII. Narrower than the parser only where a URL could not
#   be public anyway (IPv6 literals aside).
_LABEL = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = rf"({_LABEL}\.)*[A-Za-z]([A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?"
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"({_OCTET}\.){{3}}{_OCTET}"
_PORT = "(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?"
_HTTP_URL = rf"https?://({_HOSTNAME}|{_IPV4}){_PORT}([/?#][\x21-\x7e]*)?"
HTTP_URL_PATTERN = f"^{_HTTP_URL}$"
# - What `imaging.inputs.image_from_data_url` takes: an image media type, base64 (not empty).
_BASE64 = "([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)"
DATA_URL_PATTERN = rf"^data:image/[A-Za-z0-9.+-]+;base64,{_BASE64}$"


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": API_KEY_EXAMPLE,
            "description": API_KEY_DESCRIPTION,
        }


class ImageSourceFieldScheme(OpenApiSerializerFieldExtension):
    """`image_url`-like fields: an http(s) URL or a base64 `data:image/…` URL."""

    target_class = "api.serializers.ImageSourceField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: AutoSchema, direction: str) -> dict[str, Any]:
        return {
            "type": "string",
            "pattern": IMAGE_SOURCE_PATTERN,
            "anyOf": [
                {"type": "string", "pattern": HTTP_URL_PATTERN, "maxLength": IMAGE_URL_MAX_LENGTH},
                {"type": "string", "pattern": DATA_URL_PATTERN},
            ],
            "description": "An http(s) URL on a public address, or a base64 data URL "
            "(`data:image/png;base64,…`). JPEG, PNG or WebP, within the plan's file size limit.",
        }


class CallbackUrlFieldScheme(OpenApiSerializerFieldExtension):
    """A webhook's `url`: an http(s) URL on a public address."""

    target_class = "api.webhooks.CallbackUrlField"

    def map_serializer_field(self, auto_schema: AutoSchema, direction: str) -> dict[str, Any]:
        return {
            "type": "string",
            "format": "uri",
            "pattern": HTTP_URL_PATTERN,
            "minLength": 1,
            "maxLength": self.target.max_length,
            "description": "An http(s) URL on a public address, without credentials.",
        }


# --- The error envelope ---------------------------------------------------------------------------


@extend_schema_serializer(component_name="ErrorInfo")
class ErrorInfoSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable; never translated.")
    message = serializers.CharField(help_text="Short text in the Accept-Language language.")
    details = serializers.CharField(
        allow_null=True, help_text="What exactly was wrong (for 400: each field and why)."
    )


@extend_schema_serializer(component_name="ErrorEnvelope")
class ErrorEnvelopeSerializer(serializers.Serializer):
    success = FalseField()
    error = ErrorInfoSerializer()
    request_id = serializers.CharField(help_text="The same as the `X-Request-ID` header.")
    task_id = serializers.CharField(
        required=False,
        help_text="Only on a 500 for an operation that failed while the request waited: the "
        "failed task, as `GET /v1/task/{task_id}` shows it.",
    )


# status -> (the code it usually carries, when it happens)
ERROR_RESPONSES: dict[int, tuple[str, str]] = {
    400: (
        "INVALID_REQUEST",
        "Invalid parameters (`details` names each field), a body that cannot be parsed or is "
        f"not a JSON object (nested at most {MAX_JSON_DEPTH} levels), a bad Idempotency-Key, or "
        "an image that cannot be fetched or is corrupt.",
    ),
    401: ("INVALID_API_KEY", "Missing, malformed, unknown, revoked or expired API key."),
    402: ("INSUFFICIENT_CREDITS", "Not enough credits; nothing was charged or queued."),
    404: ("NOT_FOUND", "Nothing with this id in your account."),
    409: (
        "IDEMPOTENCY_CONFLICT",
        "The Idempotency-Key was used with other parameters, or its first request is still "
        "running (cancel: `TASK_NOT_CANCELLABLE` when a worker is running the task or it has "
        "finished).",
    ),
    413: (
        "FILE_TOO_LARGE",
        "An image, or the request body, is over the plan's file size or pixel limit.",
    ),
    415: (
        "UNSUPPORTED_FORMAT",
        "An image that is not JPEG, PNG or WebP, or a request Content-Type that is not accepted.",
    ),
    429: (
        "RATE_LIMIT_EXCEEDED",
        "The plan's per-minute or daily request limit is reached; see `Retry-After`.",
    ),
    500: (
        "PROCESSING_ERROR",
        "Image processing failed while the request waited (its credits are refunded), or an "
        "unexpected error (logged with the request id).",
    ),
    503: (
        "TEMPORARY_UNAVAILABLE",
        "The processing queue is full or unreachable, or rate limiting is unavailable; retry "
        "after `Retry-After`.",
    ),
}


def application_errors() -> list[type[ApplicationError]]:
    """The application error hierarchy: every error the envelope can carry."""
    found, pending = [], [ApplicationError]
    while pending:
        error_class = pending.pop()
        found.append(error_class)
        pending.extend(error_class.__subclasses__())
    return found


def application_error_codes() -> list[str]:
    return sorted({error_class.code for error_class in application_errors()})


def error_response(status: int) -> OpenApiResponse:
    code, description = ERROR_RESPONSES[status]
    return OpenApiResponse(
        ErrorEnvelopeSerializer,
        description=f"`{code}`: {description}",
        examples=[
            OpenApiExample(
                code,
                value={
                    "success": False,
                    "error": {"code": code, "message": "…", "details": "…"},
                    "request_id": "req_0123456789abcdef01234567",
                },
                response_only=True,
                status_codes=[str(status)],
            )
        ],
    )
