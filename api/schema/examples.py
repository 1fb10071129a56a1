# ruff: noqa: RUF001
"""The OpenAPI prose and example bodies, shared with the /docs page (api.docs): descriptions
and request/answer examples, each figure formatted from the constant or setting it states."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from accounts.services import API_KEY_PREFIX
from billing.costs import operation_cost
from billing.ratelimit import READS_PER_MINUTE
from billing.selectors import ALLOWED_IMAGE_FORMATS
from core.operations import BATCH_MAX_IMAGES, Operation
from webhooks.selectors import DELIVERIES_SHOWN
from webhooks.signing import SECRET_PREFIX

_UNITS = ((3600, "h", "hour"), (60, "min", "minute"), (1, "s", "second"))


def duration_text(seconds: int, *, spelled_out: bool = False) -> str:
    """`5 s`, `5 min`, `2 h` (or `2 hours`): a whole number of the largest unit that divides it."""
    size, short, long = next(
        (unit for unit in _UNITS if seconds and seconds % unit[0] == 0), _UNITS[-1]
    )
    count = seconds // size
    if not spelled_out:
        return f"{count} {short}"
    return f"{count} {long}{'' if count == 1 else 's'}"


def series_text(items: list[str]) -> str:
    """`a, b and c`."""
    return " and ".join([", ".join(items[:-1]), items[-1]]) if len(items) > 1 else "".join(items)


API_KEY_EXAMPLE = f"{API_KEY_PREFIX}…"

# --- The API as a whole ---------------------------------------------------------------------------

API_DESCRIPTION = f"""
AI image editing over HTTP: natural-language edits, background removal, text to image, style
transfer, enhancement and consistent batch edits. Prompts may be Chinese or English.

A guide with curl, Python and JavaScript examples is at [/docs](/docs).

**Authentication.** `Authorization: Bearer {API_KEY_EXAMPLE}` on every request; create keys on
[/profile](/profile).

**Errors** share one envelope:
`{{"success": false, "error": {{"code", "message", "details"}}, "request_id": "req_…"}}`.
`code` never changes with the language; `message` and `details` follow `Accept-Language`
(English, or Simplified Chinese for `zh`, `zh-CN`, `zh-Hans`).

**Waiting or polling.** Image operations wait for their result for a bounded time and answer
`200` as in the reference; longer work, or a request with `Prefer: respond-async`, gets `202`
with the task and a `Location` to poll (`GET /v1/task/{{task_id}}`). Batch edits always answer at
once; poll `GET /v1/batch/{{batch_id}}`.

**Retries.** Send an `Idempotency-Key` with any POST to make retrying it safe.

**Limits.** Image operations count against the plan's per-minute and daily limits (per
account); reads (polling, account) against {READS_PER_MINUTE} per minute. Every answer says where
you stand in `RateLimit` / `RateLimit-Policy`; `429` comes with `Retry-After`.
""".strip()

API_KEY_DESCRIPTION = f"Create a key on /profile; send `Authorization: Bearer {API_KEY_EXAMPLE}`."

# --- The image operations -------------------------------------------------------------------------

REFERENCE_RESULT = {
    "success": True,
    "task_id": "task_123456789",
    "image_url": "https://cdn.nanobanana.ai/results/edited_image.jpg",
    "description": "已成功将背景替换为海滩风景，保持人物主体不变",
    "processing_time": 2.3,
    "credits_used": operation_cost(Operation.IMAGE_EDIT),
}

# operation id -> path, summary, description, the reference's request (Chinese prompt), an
# English prompt, and the 200 example's values (over REFERENCE_RESULT). api.docs renders the
# same requests as code.
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
            "credits_used": operation_cost(Operation.REMOVE_BACKGROUND),
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
            "credits_used": operation_cost(Operation.TEXT_TO_IMAGE),
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
            "credits_used": operation_cost(Operation.STYLE_TRANSFER),
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
            "credits_used": operation_cost(Operation.ENHANCE),
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

# --- Batch edit -----------------------------------------------------------------------------------

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
    "total_credits": operation_cost(
        Operation.BATCH_EDIT, images=len(BATCH_EDIT_REQUEST["image_urls"])
    ),
}
BATCH_EDIT_SUMMARY = "Batch edit"
BATCH_EDIT_DESCRIPTION = (
    f"Edit up to {BATCH_MAX_IMAGES} images (the plan's batch limit, "
    "`usage_limits.max_images_per_request` in `GET /v1/account`) with one prompt, keeping the "
    "character and the style consistent. "
    "Charged per image, all or nothing. Answers at once with the tasks; poll "
    "`GET /v1/batch/{batch_id}` or each `GET /v1/task/{task_id}`. JSON only."
)

# --- Webhooks -------------------------------------------------------------------------------------

_ROTATION_GRACE = duration_text(settings.WEBHOOK_SECRET_ROTATION_GRACE_SECONDS)
_RETRIES = (
    "retried after "
    + series_text([duration_text(delay) for delay in settings.WEBHOOK_RETRY_DELAYS])
    if settings.WEBHOOK_RETRY_DELAYS
    else "not retried"
)
WEBHOOK_SIGNING_DOC = (
    "Registers a callback URL (http or https, on a public address). When a task of the account "
    "completes or fails, its JSON (as `GET /v1/task/{id}`) is POSTed as "
    '`{"type": "task.completed" | "task.failed", "timestamp", "data"}`, signed in the Standard '
    "Webhooks format: headers `webhook-id` (`msg_…`, the same on every retry), "
    "`webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of "
    "`{id}.{timestamp}.{body}` keyed with the base64 part of `secret` after "
    f"`{SECRET_PREFIX}`; for {_ROTATION_GRACE} after a secret rotation two space-separated "
    f"signatures, one per secret). Any answer but 2xx is {_RETRIES}; redirects are not followed."
)
WEBHOOK_ROTATE_SECRET_DOC = (
    "Answers the endpoint with its new `secret`. For "
    f"{duration_text(settings.WEBHOOK_SECRET_ROTATION_GRACE_SECONDS, spelled_out=True)} every "
    "message carries two signatures in `webhook-signature` (new and old secret), so the receiver "
    "can switch over without missing a message."
)
WEBHOOK_DELIVERIES_DOC = (
    f"The {DELIVERIES_SHOWN} most recent deliveries to the endpoint, newest first."
)

# --- Only on the /docs page -----------------------------------------------------------------------

TASK_RESULT = {
    "task_id": "task_123456789",
    "status": "completed",
    "progress": 100,
    "result": {
        "image_url": "https://cdn.nanobanana.ai/results/final.jpg",
        "description": "处理完成",
    },
    "error": None,
    "created_at": "2024-01-01T10:00:00Z",
    "completed_at": "2024-01-01T10:02:30Z",
}
# The reference's example account (a Pro plan, as seeded by billing's 0002_seed_plans).
ACCOUNT_RESULT = {
    "user_id": "user_123456",
    "email": "user@example.com",
    "subscription": {"plan": "pro", "status": "active", "expires_at": "2024-02-01T00:00:00Z"},
    "credits": {
        "balance": 850,
        "used_this_month": 150,
        "last_renewed": "2024-01-01T00:00:00Z",
        "unlimited": False,
    },
    "usage_limits": {
        "max_images_per_request": 5,
        "max_file_size_mb": 10,
        "allowed_formats": list(ALLOWED_IMAGE_FORMATS),
    },
}
ERROR_EXAMPLE = {
    "success": False,
    "error": {
        "code": "INVALID_REQUEST",
        "message": "请求参数无效",
        "details": "prompt 字段不能为空",
    },
    "request_id": "req_123456789",
}
