"""The request and response headers of /v1 as OpenAPI parameters: Idempotency-Key, Prefer,
X-Request-ID, RateLimit, Retry-After, the credit headers and Location."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter

from api.idempotency import IDEMPOTENCY_KEY_MAX_LENGTH, IDEMPOTENCY_KEY_PATTERN
from billing.ratelimit import READS_PER_MINUTE

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    pattern=IDEMPOTENCY_KEY_PATTERN,
    description="Makes a retry safe: the first request with a key does the work; a retry with "
    "the same key and the same parameters gets the stored answer (`Idempotent-Replayed: true`) "
    f"for {settings.IDEMPOTENCY_KEY_TTL_HOURS} hours, the same key with other parameters is "
    "`409 IDEMPOTENCY_CONFLICT`. A request refused with a 4xx or 503 did nothing and does not "
    f"use up its key. 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters; a UUID is "
    "ideal.",
)
PREFER = OpenApiParameter(
    "Prefer",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="`respond-async`: answer `202` with the task at once instead of waiting for "
    "the result, then poll `Location` (`GET /v1/task/{task_id}`).",
    examples=[OpenApiExample("respond-async", value="respond-async")],
)
# The windows are billing.ratelimit.account_quotas': a plan's limits are rows of billing's Plan
# (seeded by a migration, edited in admin), so the schema names them rather than quoting one.
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
        description='The windows counted: `"minute";q=N;w=60, "day";q=M;w=86400` for image '
        "operations, N and M being the plan's requests per minute and per day (per account; "
        f'/pricing lists each plan\'s), `"reads";q={READS_PER_MINUTE};w=60` for everything else.',
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
