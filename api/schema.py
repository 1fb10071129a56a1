# ruff: noqa: RUF001
"""The OpenAPI description of /v1 (drf-spectacular): our AutoSchema, shared components, hooks.

`ApiAutoSchema` is the DEFAULT_SCHEMA_CLASS, so every APIView under /v1 gets, without a decorator:
its nested `InputSerializer` as the request body, the error envelope for each status it can
answer with, the Idempotency-Key header on POSTs, and the X-Request-ID / RateLimit response
headers. `@extend_schema` on a view adds what only that view knows (its responses, its id).
The image operations are async function views around a DRF view (`api.operations.
wait_for_result`); `image_operation` documents both halves: 200 when the result came in time,
202 with the task otherwise.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ComponentIdentity, ResolvedComponent, is_serializer
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
    extend_schema_view,
)
from rest_framework import serializers

from api.parsers import MAX_JSON_DEPTH
from api.serializers import (
    ALWAYS,
    FalseField,
    OperationResultSerializer,
    RemoveBackgroundResultSerializer,
    TaskAcceptedSerializer,
)
from core.errors import ApplicationError
from core.outgoing import MAX_URL_LENGTH as IMAGE_URL_MAX_LENGTH

JSON = "application/json"
MULTIPART = "multipart/form-data"
FORM = "application/x-www-form-urlencoded"
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
            "bearerFormat": "nk_live_…",
            "description": "Create a key on /profile; send `Authorization: Bearer nk_live_…`.",
        }


class ImageSourceFieldScheme(OpenApiSerializerFieldExtension):
    """`image_url`-like fields: an http(s) URL or a base64 `data:image/…` URL."""

    target_class = "api.operations.ImageSourceField"
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


# --- Shared components --------------------------------------------------------------------------


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


# --- Headers ------------------------------------------------------------------------------------

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    pattern=r"^[\x21-\x7e]{1,255}$",
    description="Makes a retry safe: the first request with a key does the work; a retry with "
    "the same key and the same parameters gets the stored answer (`Idempotent-Replayed: true`) "
    "for 24 hours, the same key with other parameters is `409 IDEMPOTENCY_CONFLICT`. A request "
    "refused with a 4xx or 503 did nothing and does not use up its key. 1 to 255 printable ASCII "
    "characters; a UUID is ideal.",
)
PREFER = OpenApiParameter(
    "Prefer",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="`respond-async`: answer `202` with the task at once instead of waiting for "
    "the result, then poll `Location` (`GET /v1/task/{task_id}`).",
    examples=[OpenApiExample("respond-async", value="respond-async")],
)
RESPONSE_HEADERS = [
    OpenApiParameter(
        "X-Request-ID",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=True,
        required=True,
        description="The request's id (also `request_id` in errors); a client's own "
        "`X-Request-ID` is kept when it is a plain token. Quote it when asking for support.",
    ),
    OpenApiParameter(
        "RateLimit",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=True,
        description="Requests left and seconds until a slot frees, per window (IETF draft): "
        '`"minute";r=4;t=60, "day";r=99;t=86400`.',
    ),
    OpenApiParameter(
        "RateLimit-Policy",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=True,
        description='The windows counted: `"minute";q=5;w=60, "day";q=100;w=86400` for image '
        'operations (per account, from the plan), `"reads";q=300;w=60` for everything else.',
    ),
    OpenApiParameter(
        "Retry-After",
        OpenApiTypes.INT,
        OpenApiParameter.HEADER,
        response=[429],
        required=True,
        description="Seconds to wait before retrying.",
    ),
    OpenApiParameter(
        "Retry-After",
        OpenApiTypes.INT,
        OpenApiParameter.HEADER,
        response=[409, 503],
        description="Seconds to wait before retrying, when retrying can help.",
    ),
    OpenApiParameter(
        "WWW-Authenticate",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=[401],
        description='`Bearer realm="api"`',
    ),
]
IDEMPOTENT_REPLAYED = OpenApiParameter(
    "Idempotent-Replayed",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[200, 201, 202],
    enum=["true"],
    description="Present when this is the stored answer to an earlier request with the same "
    "Idempotency-Key.",
)
TASK_LOCATION = OpenApiParameter(
    "Location",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[202],
    required=True,
    description="Where to poll the task: `/v1/task/{task_id}`.",
)

CREDIT_HEADERS = [
    OpenApiParameter(
        "X-Credits-Used",
        OpenApiTypes.INT,
        OpenApiParameter.HEADER,
        response=[200, 202],
        description="Credits this request was charged.",
    ),
    OpenApiParameter(
        "X-Credits-Remaining",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=[200, 202],
        description="The balance after the charge, or `unlimited`.",
    ),
]

# --- Errors -------------------------------------------------------------------------------------

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


# --- The schema class ---------------------------------------------------------------------------


def char_field_constraints(field: serializers.CharField, schema: dict[str, Any]) -> dict[str, Any]:
    """What a CharField refuses beyond its length validators (drf-spectacular sees only those):
    blank unless `allow_blank` (after trimming, with `trim_whitespace`), NUL and surrogates
    always. A field with a pattern of its own (URLs, choices) already says more."""
    if schema.get("type") != "string" or "pattern" in schema or "format" in schema:
        return schema
    if field.allow_blank:
        return {**schema, "pattern": TEXT_PATTERN}
    pattern = NON_BLANK_TEXT_PATTERN if field.trim_whitespace else TEXT_PATTERN
    return {**schema, "pattern": pattern, "minLength": max(schema.get("minLength", 0), 1)}


class ApiAutoSchema(AutoSchema):
    def get_request_serializer(self) -> Any:
        if self.method in ("POST", "PUT", "PATCH") and hasattr(self.view, "InputSerializer"):
            return self.view.InputSerializer
        return super().get_request_serializer()

    def get_response_serializers(self) -> Any:
        if hasattr(self.view, "OutputSerializer"):
            return self.view.OutputSerializer
        return super().get_response_serializers()

    def get_serializer_name(self, serializer: serializers.Serializer, direction: str) -> str:
        """Nested `InputSerializer`/`OutputSerializer` are named after their view:
        `ImageEditApi.InputSerializer` is `ImageEditRequest`."""
        serializer_class = type(serializer)
        outer = serializer_class.__qualname__.split(".")
        generic = {"InputSerializer": "Request", "OutputSerializer": "Response"}
        if len(outer) > 1 and serializer_class.__name__ in generic:
            return outer[-2].removesuffix("Api") + generic[serializer_class.__name__]
        return super().get_serializer_name(serializer, direction)

    def get_tags(self) -> list[str]:
        return [TAGS_BY_PATH.get(tag, tag) for tag in super().get_tags()]

    def _map_serializer_field(
        self, field: serializers.Field, direction: str, bypass_extensions: bool = False
    ) -> dict[str, Any]:
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction == "request" and isinstance(field, serializers.CharField):
            schema = char_field_constraints(field, schema)
        return schema

    def get_override_parameters(self) -> list:
        parameters = [*super().get_override_parameters(), *RESPONSE_HEADERS]
        if self.method == "POST":
            parameters += [IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED]
        return parameters

    def error_statuses(self) -> list[int]:
        """Where this operation can fail, whichever layer answers (see api.errors)."""
        statuses = {401, 429, 500, 503}
        if "{" in self.path:
            statuses.add(404)
        if self.method in ("POST", "PATCH"):
            statuses |= {400, 415}  # bodies
        if self.method == "POST":
            statuses |= {409, 413}  # Idempotency-Key, uploads
            if getattr(self.view, "billable", False):
                statuses.add(402)
        return sorted(statuses)

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for status in self.error_statuses():
            if str(status) not in responses:
                responses[str(status)] = self._get_response_for_code(
                    error_response(status), str(status), direction=direction
                )
        return dict(sorted(responses.items()))

    def _get_request_body(self, direction: str = "request") -> dict[str, Any] | None:
        """Image operations take JSON, or multipart with each `<name>_url` also as a file
        `<name>` (what `OperationApi._data_with_uploads` reads)."""
        body = super()._get_request_body(direction)
        image_fields = getattr(self.view, "image_fields", None)
        if not body or image_fields is None:
            return body
        serializer = self.get_request_serializer()
        if not is_serializer(serializer):
            return body
        content = body["content"]
        content.pop(FORM, None)
        if image_fields and MULTIPART in content:
            component = self._multipart_component(serializer, image_fields, direction)
            content[MULTIPART]["schema"] = component.ref
        return body

    def _multipart_component(
        self, serializer: Any, image_fields: tuple[str, ...], direction: str
    ) -> ResolvedComponent:
        json_component = self.resolve_serializer(serializer, direction)
        component = ResolvedComponent(
            name=json_component.name.removesuffix("Request") + "MultipartRequest",
            type=ResolvedComponent.SCHEMA,
            object=ComponentIdentity((type(json_component.object), MULTIPART)),
        )
        if component in self.registry:
            return self.registry[component]
        schema = copy.deepcopy(json_component.schema)
        alternatives = []
        for field in image_fields:
            upload = field.removesuffix("_url")
            schema["properties"][upload] = {
                "type": "string",
                "format": "binary",
                "description": f"The image file itself, instead of `{field}`.",
            }
            alternatives.append({"anyOf": [{"required": [field]}, {"required": [upload]}]})
        required = [name for name in schema.get("required", []) if name not in image_fields]
        schema.pop("required", None)
        if required:
            schema["required"] = required
        if len(alternatives) == 1:
            schema.update(alternatives[0])
        else:
            schema["allOf"] = alternatives
        component.schema = schema
        self.registry.register_on_missing(component)
        return component


# --- The image operations -----------------------------------------------------------------------

REFERENCE_RESULT = {
    "success": True,
    "task_id": "task_123456789",
    "image_url": "https://cdn.nanobanana.ai/results/edited_image.jpg",
    "description": "已成功将背景替换为海滩风景，保持人物主体不变",
    "processing_time": 2.3,
    "credits_used": 5,
}

# operation id -> path, summary, description, the reference's request (Chinese prompt), an
# English prompt, and the 200 example's values. api.docs renders the same requests as code.
IMAGE_OPERATIONS: dict[str, dict[str, Any]] = {
    "image_edit": {
        "path": "/v1/image-edit",
        "summary": "Image edit",
        "description": "Edit an image with a natural-language instruction (Chinese or English).",
        "request": {
            "prompt": "将人物背景改为海滩风景，保持人物不变",
            "image_url": "https://example.com/portrait.jpg",
            "strength": 0.8,
            "preserve_scene": True,
        },
        "prompt_en": "Change the background to a beach scene, keep the person unchanged",
        "result": {},
    },
    "remove_background": {
        "path": "/v1/remove-background",
        "summary": "Background removal",
        "description": "Remove the background: a PNG with a transparent background, and the "
        "mask with `return_mask`.",
        "request": {
            "image_url": "https://example.com/person.jpg",
            "return_mask": True,
            "edge_smooth": True,
        },
        "result": {
            "task_id": "task_123456790",
            "image_url": "https://cdn.nanobanana.ai/results/no_bg.png",
            "mask_url": "https://cdn.nanobanana.ai/results/mask.png",
            "description": "背景移除完成，主体轮廓清晰",
            "processing_time": 1.8,
            "credits_used": 3,
        },
    },
    "text_to_image": {
        "path": "/v1/text-to-image",
        "summary": "Text to image",
        "description": "Generate an image from a description (Chinese or English). `width` and "
        "`height` are multiples of 8.",
        "request": {
            "prompt": "一只可爱的小熊猫在竹林里玩耍，阳光明媚，高清摄影风格",
            "width": 768,
            "height": 512,
            "style": "realistic",
            "quality": "high",
        },
        "prompt_en": "A cute little panda playing in a bamboo forest, bright sunshine, "
        "HD photography style",
        "result": {
            "task_id": "task_123456791",
            "image_url": "https://cdn.nanobanana.ai/results/generated_image.jpg",
            "description": "生成了一张熊猫在竹林的图像",
            "processing_time": 8.5,
            "credits_used": 8,
        },
    },
    "style_transfer": {
        "path": "/v1/style-transfer",
        "summary": "Style transfer",
        "description": "Paint the content image in the style of the style image.",
        "request": {
            "content_image_url": "https://example.com/portrait.jpg",
            "style_image_url": "https://example.com/van_gogh.jpg",
            "strength": 0.7,
        },
        "result": {
            "task_id": "task_123456795",
            "image_url": "https://cdn.nanobanana.ai/results/styled.jpg",
            "description": "已将梵高风格应用到人像",
            "processing_time": 6.1,
            "credits_used": 6,
        },
    },
    "enhance": {
        "path": "/v1/enhance",
        "summary": "Enhance",
        "description": "Improve quality: upscale (×2 or ×4), denoise or colour correction.",
        "request": {
            "image_url": "https://example.com/low_res.jpg",
            "enhancement_type": "upscale",
            "upscale_factor": 4,
        },
        "result": {
            "task_id": "task_123456796",
            "image_url": "https://cdn.nanobanana.ai/results/enhanced.jpg",
            "description": "图像已放大4倍",
            "processing_time": 3.2,
            "credits_used": 4,
        },
    },
}

WAITING_DOC = """

**Answers.** The request waits for the result for a bounded time and answers `200` with it,
as in the reference. When the work takes longer, or with `Prefer: respond-async`, it answers
`202` with the task and a `Location` to poll (`GET /v1/task/{task_id}`). Credits are charged
when the task is accepted and refunded if it fails (`500 PROCESSING_ERROR` when it fails while
the request waits).

**Images** come as `image_url`-like fields: an http(s) URL or a `data:image/…;base64,` URL in
JSON, or as files in `multipart/form-data` (field name without `_url`, e.g. `image`)."""


def image_operation(operation_id: str) -> Callable[[type], type]:
    """Documents an image POST wrapped by `wait_for_result`: 200 (finished), 202 (accepted)."""
    spec = IMAGE_OPERATIONS[operation_id]
    result_serializer = (
        RemoveBackgroundResultSerializer
        if operation_id == "remove_background"
        else OperationResultSerializer
    )
    examples = [
        OpenApiExample(
            "Reference (Chinese prompt)" if "prompt" in spec["request"] else "Reference",
            value=spec["request"],
            request_only=True,
            media_type=JSON,
        )
    ]
    if "prompt_en" in spec:
        examples.append(
            OpenApiExample(
                "English prompt",
                value={**spec["request"], "prompt": spec["prompt_en"]},
                request_only=True,
                media_type=JSON,
            )
        )
    examples += [
        OpenApiExample(
            "Finished",
            value={**REFERENCE_RESULT, **spec["result"]},
            response_only=True,
            status_codes=["200"],
        ),
        OpenApiExample(
            "Accepted",
            value={
                "success": True,
                "task_id": spec["result"].get("task_id", REFERENCE_RESULT["task_id"]),
                "status": "pending",
                "credits_used": spec["result"].get("credits_used", 5),
            },
            response_only=True,
            status_codes=["202"],
        ),
    ]
    return extend_schema_view(
        post=extend_schema(
            operation_id=operation_id,
            summary=spec["summary"],
            description=spec["description"] + WAITING_DOC,
            tags=["Images"],
            parameters=[PREFER, TASK_LOCATION, *CREDIT_HEADERS],
            responses={
                200: OpenApiResponse(result_serializer, description="Finished in time."),
                202: OpenApiResponse(
                    TaskAcceptedSerializer,
                    description="Accepted; still running (or `Prefer: respond-async`). "
                    "Poll `Location`.",
                ),
            },
            examples=examples,
        )
    )


# --- Hooks --------------------------------------------------------------------------------------

TAGS_BY_PATH = {"account": "Account", "task": "Tasks", "batch": "Tasks", "webhooks": "Webhooks"}

API_DESCRIPTION = """
AI image editing over HTTP: natural-language edits, background removal, text to image, style
transfer, enhancement and consistent batch edits. Prompts may be Chinese or English.

A guide with curl, Python and JavaScript examples is at [/docs](/docs).

**Authentication.** `Authorization: Bearer nk_live_…` on every request; create keys on
[/profile](/profile).

**Errors** share one envelope:
`{"success": false, "error": {"code", "message", "details"}, "request_id": "req_…"}`.
`code` never changes with the language; `message` and `details` follow `Accept-Language`
(English, or Simplified Chinese for `zh`, `zh-CN`, `zh-Hans`).

**Waiting or polling.** Image operations wait for their result for a bounded time and answer
`200` as in the reference; longer work, or a request with `Prefer: respond-async`, gets `202`
with the task and a `Location` to poll (`GET /v1/task/{task_id}`). Batch edits always answer at
once; poll `GET /v1/batch/{batch_id}`.

**Retries.** Send an `Idempotency-Key` with any POST to make retrying it safe.

**Limits.** Image operations count against the plan's per-minute and daily limits (per
account); reads (polling, account) against 300 per minute. Every answer says where you stand
in `RateLimit` / `RateLimit-Policy`; `429` comes with `Retry-After`.
""".strip()


def preprocess_api_endpoints(endpoints: list[tuple]) -> list[tuple]:
    """Only the API itself: not the schema view that happens to live under /v1."""
    from drf_spectacular.views import SpectacularAPIView  # it is decorated with this module

    return [
        (path, path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
        if not issubclass(callback.cls, SpectacularAPIView)
    ]


# Constraints a serializer checks in `validate()`, where drf-spectacular cannot see them.
EXTRA_CONSTRAINTS: dict[str, dict[str, dict[str, Any]]] = {
    "TextToImageRequest": {"width": {"multipleOf": 8}, "height": {"multipleOf": 8}},
}


def postprocess_schema(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    result["info"]["description"] = API_DESCRIPTION
    components = result.setdefault("components", {})
    schemas = components.get("schemas", {})
    if "ErrorInfo" in schemas:
        schemas["ErrorInfo"]["properties"]["code"]["enum"] = application_error_codes()
    for schema in schemas.values():
        for prop in schema.get("properties", {}).values():
            if ALWAYS in prop:
                prop["enum"] = [prop.pop(ALWAYS)]
    for name, constraints in EXTRA_CONSTRAINTS.items():
        for field, extra in constraints.items():
            schemas[name]["properties"][field].update(extra)
    components["headers"] = headers_as_components(result.get("paths", {}))
    add_links(result.get("paths", {}))
    return result


def _links() -> list[tuple[str, str, str, str, dict[str, str]]]:
    """(operation, status, link name, target operation, parameters): where an answer's ids lead.
    Clients (and schemathesis' stateful tests) follow them."""
    task_id = {"task_id": "$response.body#/task_id"}
    endpoint_id = {"endpoint_id": "$response.body#/id"}
    links = []
    for operation_id in IMAGE_OPERATIONS:
        for status in ("200", "202"):
            links.append((operation_id, status, "GetTask", "task_retrieve", task_id))
        links.append((operation_id, "202", "CancelTask", "task_cancel", task_id))
    links += [
        (
            "batch_edit",
            "200",
            "GetBatch",
            "batch_retrieve",
            {"batch_id": "$response.body#/batch_id"},
        ),
        (
            "batch_edit",
            "200",
            "GetFirstTask",
            "task_retrieve",
            {"task_id": "$response.body#/tasks/0/task_id"},
        ),
        ("task_cancel", "200", "GetTask", "task_retrieve", task_id),
        ("webhooks_create", "201", "GetWebhook", "webhooks_retrieve", endpoint_id),
        ("webhooks_create", "201", "ListDeliveries", "webhooks_deliveries_list", endpoint_id),
        ("webhooks_create", "201", "DeleteWebhook", "webhooks_destroy", endpoint_id),
    ]
    return links


def add_links(paths: dict[str, Any]) -> None:
    operations = {
        operation["operationId"]: operation
        for item in paths.values()
        for operation in item.values()
        if "operationId" in operation
    }
    for source, status, name, target, parameters in _links():
        response = operations.get(source, {}).get("responses", {}).get(status)
        if response is not None and target in operations:
            response.setdefault("links", {})[name] = {
                "operationId": target,
                "parameters": parameters,
            }


def headers_as_components(paths: dict[str, Any]) -> dict[str, Any]:
    """Each response header once under components/headers, referenced from every response:
    the same few headers sit on every response of every operation."""
    named: dict[str, dict[str, Any]] = {}
    for item in paths.values():
        for operation in item.values():
            for response in operation.get("responses", {}).values():
                for header_name, header in response.get("headers", {}).items():
                    optional = "" if header.get("required") else "-Optional"
                    candidates = [header_name, header_name + optional]
                    candidates += [f"{header_name}-{n}" for n in range(2, 100)]
                    component_name = next(
                        name for name in candidates if named.setdefault(name, header) == header
                    )
                    response["headers"][header_name] = {
                        "$ref": f"#/components/headers/{component_name}"
                    }
    return dict(sorted(named.items()))


BATCH_EDIT_REQUEST = {
    "prompt": "保持人物面部特征，更换不同的服装背景",
    "image_urls": [
        "https://example.com/person1.jpg",
        "https://example.com/person2.jpg",
        "https://example.com/person3.jpg",
    ],
    "preserve_character": True,
    "style_consistency": True,
}
BATCH_EDIT_PROMPT_EN = (
    "Keep the person's facial features, change to different outfits and backgrounds"
)
BATCH_EDIT_RESULT = {
    "success": True,
    "batch_id": "batch_123456",
    "tasks": [
        {"task_id": "task_123456792", "status": "processing"},
        {"task_id": "task_123456793", "status": "processing"},
        {"task_id": "task_123456794", "status": "processing"},
    ],
    "total_credits": 15,
}
BATCH_EDIT_DOCS: dict[str, Any] = {
    "summary": "Batch edit",
    "description": "Edit up to 20 images (the plan's batch limit, `usage_limits."
    "max_images_per_request` in `GET /v1/account`) with one prompt, keeping the character and "
    "the style consistent. Charged per image, all or nothing. Answers at once with the tasks; "
    "poll `GET /v1/batch/{batch_id}` or each `GET /v1/task/{task_id}`. JSON only.",
    "tags": ["Images"],
    "parameters": CREDIT_HEADERS,
    "examples": [
        OpenApiExample("Reference (Chinese prompt)", value=BATCH_EDIT_REQUEST, request_only=True),
        OpenApiExample(
            "English prompt",
            value={**BATCH_EDIT_REQUEST, "prompt": BATCH_EDIT_PROMPT_EN},
            request_only=True,
        ),
        OpenApiExample(
            "Accepted",
            value=BATCH_EDIT_RESULT,
            response_only=True,
            status_codes=["200"],
        ),
    ],
}
