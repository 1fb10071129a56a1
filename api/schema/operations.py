"""The documentation of the image operations' views (api.apis): `image_operation` for the image
POSTs (200 when the result came in time, 202 with the task otherwise) and the batch edit's
`extend_schema` arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)

from api.schema.examples import (
    BATCH_EDIT_DESCRIPTION,
    BATCH_EDIT_PROMPT_EN,
    BATCH_EDIT_REQUEST,
    BATCH_EDIT_RESULT,
    BATCH_EDIT_SUMMARY,
    IMAGE_OPERATIONS,
    REFERENCE_RESULT,
    WAITING_DOC,
)
from api.schema.headers import CREDIT_HEADERS, PREFER, TASK_LOCATION
from api.serializers import (
    OperationResultSerializer,
    RemoveBackgroundResultSerializer,
    TaskAcceptedSerializer,
)

JSON = "application/json"


def image_operation(operation_id: str) -> Callable[[type], type]:
    """Documents an image POST wrapped by `wait_for_result`: 200 (finished), 202 (accepted)."""
    spec = IMAGE_OPERATIONS[operation_id]
    finished = {**REFERENCE_RESULT, **spec["result"]}
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
            value=finished,
            response_only=True,
            status_codes=["200"],
        ),
        OpenApiExample(
            "Accepted",
            value={
                "success": True,
                "task_id": finished["task_id"],
                "status": "pending",
                "credits_used": finished["credits_used"],
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


BATCH_EDIT_DOCS: dict[str, Any] = {
    "summary": BATCH_EDIT_SUMMARY,
    "description": BATCH_EDIT_DESCRIPTION,
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
