"""/docs: the API guide. The reference's endpoints with curl, Python (requests) and JavaScript
(fetch) examples for this server, with Chinese and English prompts, beside Swagger UI and Redoc.

The examples are built here from the same request bodies and figures the OpenAPI schema shows
(api.schema.examples), so the guide and the schema cannot drift apart.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from api.apis import BatchEditApi
from api.schema.components import application_errors
from api.schema.examples import (
    ACCOUNT_RESULT,
    API_KEY_EXAMPLE,
    BATCH_EDIT_PROMPT_EN,
    BATCH_EDIT_REQUEST,
    BATCH_EDIT_RESULT,
    ERROR_EXAMPLE,
    IMAGE_OPERATIONS,
    REFERENCE_RESULT,
    TASK_RESULT,
)

KEY_ENV = "NANOBANANA_API_KEY"
# The most `image_urls` a batch takes, whatever the plan (plans may allow fewer).
BATCH_MAX_IMAGES: int = BatchEditApi.InputSerializer().fields["image_urls"].max_length
_JS_IDENTIFIER = re.compile(r"^[A-Za-z_$][\w$]*$")


# --- Rendering values as code in each language ----------------------------------------------------


def json_text(value: Any, indent: int = 2) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


def python_literal(value: Any, level: int = 0) -> str:
    """A Python literal, laid out like `json.dumps(indent=4)` (JSON strings are Python strings)."""
    pad, inner = "    " * level, "    " * (level + 1)
    if isinstance(value, dict):
        items = [
            f"{inner}{json_text(k)}: {python_literal(v, level + 1)}," for k, v in value.items()
        ]
        return "{\n" + "\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list):
        items = [f"{inner}{python_literal(v, level + 1)}," for v in value]
        return "[\n" + "\n".join(items) + f"\n{pad}]"
    if isinstance(value, bool) or value is None:
        return repr(value)
    return json_text(value)


def js_literal(value: Any, level: int = 0) -> str:
    """A JavaScript literal: JSON with bare keys where they are identifiers, trailing commas."""
    pad, inner = "  " * level, "  " * (level + 1)
    if isinstance(value, dict):
        items = [
            f"{inner}{k if _JS_IDENTIFIER.match(k) else json_text(k)}: {js_literal(v, level + 1)},"
            for k, v in value.items()
        ]
        return "{\n" + "\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list):
        items = [f"{inner}{js_literal(v, level + 1)}," for v in value]
        return "[\n" + "\n".join(items) + f"\n{pad}]"
    return json_text(value)


def shell_quoted(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def curl_snippet(*, base_url: str, method: str, path: str, body: dict | None) -> str:
    lines = [f"curl {'-X POST ' if method == 'POST' else ''}{base_url}{path}"]
    lines.append(f'-H "Authorization: Bearer ${KEY_ENV}"')
    if body is not None:
        lines.append('-H "Content-Type: application/json"')
        lines.append(f"-d {shell_quoted(json_text(body))}")
    return " \\\n  ".join(lines)


def python_snippet(*, base_url: str, method: str, path: str, body: dict | None) -> str:
    call = "post" if method == "POST" else "get"
    arguments = [
        f'    "{base_url}{path}",',
        f'    headers={{"Authorization": f"Bearer {{os.environ[\'{KEY_ENV}\']}}"}},',
    ]
    if body is not None:
        arguments.append(f"    json={python_literal(body, 1)},")
    arguments.append("    timeout=60,")
    return "\n".join(
        [
            "import os",
            "",
            "import requests",
            "",
            f"response = requests.{call}(",
            *arguments,
            ")",
            "print(response.status_code, response.json())",
        ]
    )


def javascript_snippet(*, base_url: str, method: str, path: str, body: dict | None) -> str:
    options = [f'  method: "{method}",', "  headers: {"]
    options.append(f"    Authorization: `Bearer ${{process.env.{KEY_ENV}}}`,")
    if body is not None:
        options.append('    "Content-Type": "application/json",')
    options.append("  },")
    if body is not None:
        options.append(f"  body: JSON.stringify({js_literal(body, 1)}),")
    return "\n".join(
        [
            f'const response = await fetch("{base_url}{path}", {{',
            *options,
            "});",
            "console.log(response.status, await response.json());",
        ]
    )


# --- The page -------------------------------------------------------------------------------


@dataclass
class Snippet:
    language: str  # curl, python, javascript
    label: str
    variants: list[tuple[str, str]]  # (prompt language: "zh", "en" or "", code)


@dataclass
class Endpoint:
    anchor: str
    title: Promise | str
    method: str
    route: str  # as documented: /v1/task/{task_id}
    path: str  # as called in the examples
    summary: Promise | str
    operation_id: str
    tag: str
    response: str
    snippets: list[Snippet] = field(default_factory=list)


SNIPPET_LANGUAGES = (
    ("curl", "curl", curl_snippet),
    ("python", "Python", python_snippet),
    ("javascript", "JavaScript", javascript_snippet),
)

TITLES = {
    "image_edit": (_("Image edit"), _("Edit an image with a natural-language instruction.")),
    "remove_background": (
        _("Background removal"),
        _("Remove the background; the result is a PNG with a transparent background."),
    ),
    "text_to_image": (_("Text to image"), _("Generate an image from a description.")),
    "style_transfer": (_("Style transfer"), _("Apply the style of one image to another.")),
    "enhance": (_("Enhance"), _("Upscale, denoise or correct the colours of an image.")),
}


def endpoint(
    *,
    base_url: str,
    operation_id: str,
    tag: str,
    title: Promise | str,
    summary: Promise | str,
    method: str,
    path: str,
    body: dict | None,
    prompt_en: str | None,
    response: dict,
    route: str = "",
) -> Endpoint:
    bodies = [("", body)]
    if body is not None and prompt_en is not None:
        bodies = [("zh", body), ("en", {**body, "prompt": prompt_en})]
    item = Endpoint(
        anchor=operation_id.replace("_", "-"),
        title=title,
        method=method,
        route=route or path,
        path=path,
        summary=summary,
        operation_id=operation_id,
        tag=tag,
        response=json_text(response),
    )
    for language, label, render_snippet in SNIPPET_LANGUAGES:
        variants = [
            (prompt, render_snippet(base_url=base_url, method=method, path=path, body=payload))
            for prompt, payload in bodies
        ]
        item.snippets.append(Snippet(language=language, label=label, variants=variants))
    return item


def endpoints(base_url: str) -> list[Endpoint]:
    """The reference's eight endpoints, in its order."""
    items = []
    for operation_id in ("image_edit", "remove_background", "text_to_image"):
        items.append(image_endpoint(base_url, operation_id))
    items.append(
        endpoint(
            base_url=base_url,
            operation_id="task_retrieve",
            tag="Tasks",
            title=_("Task status"),
            summary=_(
                "The status and result of a task: pending, processing, completed, failed "
                "or cancelled."
            ),
            method="GET",
            route="/v1/task/{task_id}",
            path="/v1/task/task_123456789",
            body=None,
            prompt_en=None,
            response=TASK_RESULT,
        )
    )
    items.append(
        endpoint(
            base_url=base_url,
            operation_id="account_retrieve",
            tag="Account",
            title=_("Account"),
            summary=_("Your plan, credits and limits."),
            method="GET",
            path="/v1/account",
            body=None,
            prompt_en=None,
            response=ACCOUNT_RESULT,
        )
    )
    items.append(
        endpoint(
            base_url=base_url,
            operation_id="batch_edit",
            tag="Images",
            title=_("Batch edit"),
            summary=_(
                "Several images with one prompt, keeping the character and the style "
                "consistent. Answers at once; poll GET /v1/batch/{batch_id}."
            ),
            method="POST",
            path="/v1/batch-edit",
            body=BATCH_EDIT_REQUEST,
            prompt_en=BATCH_EDIT_PROMPT_EN,
            response=BATCH_EDIT_RESULT,
        )
    )
    for operation_id in ("style_transfer", "enhance"):
        items.append(image_endpoint(base_url, operation_id))
    return items


def image_endpoint(base_url: str, operation_id: str) -> Endpoint:
    spec = IMAGE_OPERATIONS[operation_id]
    title, summary = TITLES[operation_id]
    return endpoint(
        base_url=base_url,
        operation_id=operation_id,
        tag="Images",
        title=title,
        summary=summary,
        method="POST",
        path=spec["path"],
        body=spec["request"],
        prompt_en=spec.get("prompt_en"),
        response={**REFERENCE_RESULT, **spec["result"]},
    )


def error_rows() -> list[tuple[str, int, Promise | str]]:
    """(code, HTTP status, message) of every error the API answers with, by status."""
    rows = {e.code: (e.code, e.http_status, e.default_message) for e in application_errors()}
    return sorted(rows.values(), key=lambda row: (row[1], row[0]))


def async_python(base_url: str) -> str:
    body = python_literal(
        {"prompt": IMAGE_OPERATIONS["text_to_image"]["request"]["prompt"], "width": 768}, 1
    )
    return f"""import os
import time
import uuid

import requests

API = "{base_url}"
session = requests.Session()
session.headers["Authorization"] = f"Bearer {{os.environ['{KEY_ENV}']}}"

response = session.post(
    f"{{API}}/v1/text-to-image",
    headers={{"Prefer": "respond-async", "Idempotency-Key": str(uuid.uuid4())}},
    json={body},
    timeout=60,
)
if response.status_code >= 400:
    error = response.json()["error"]
    raise SystemExit(f"{{error['code']}}: {{error['message']}} ({{error['details']}})")
task_url = API + response.headers["Location"]  # 202: /v1/task/task_…
while (task := session.get(task_url, timeout=30).json())["status"] in ("pending", "processing"):
    time.sleep(2)
print(task["status"], task["result"] or task["error"])"""


def async_javascript(base_url: str) -> str:
    body = js_literal({"prompt": IMAGE_OPERATIONS["text_to_image"]["prompt_en"], "width": 768}, 1)
    return f"""import {{ randomUUID }} from "node:crypto";

const API = "{base_url}";
const headers = {{ Authorization: `Bearer ${{process.env.{KEY_ENV}}}` }};

const response = await fetch(`${{API}}/v1/text-to-image`, {{
  method: "POST",
  headers: {{
    ...headers,
    "Content-Type": "application/json",
    Prefer: "respond-async",
    "Idempotency-Key": randomUUID(),
  }},
  body: JSON.stringify({body}),
}});
if (!response.ok) {{
  const {{ error }} = await response.json();
  // As in the reference: no credits left -> /pricing, bad key -> /login.
  if (error.code === "INSUFFICIENT_CREDITS") console.log(`Top up: ${{API}}/pricing`);
  if (error.code === "INVALID_API_KEY") console.log(`Log in: ${{API}}/login`);
  throw new Error(`${{error.code}}: ${{error.message}}`);
}}
const taskUrl = API + response.headers.get("Location"); // 202: /v1/task/task_…
let task;
do {{
  await new Promise((resolve) => setTimeout(resolve, 2000));
  task = await (await fetch(taskUrl, {{ headers }})).json();
}} while (task.status === "pending" || task.status === "processing");
console.log(task.status, task.result ?? task.error);"""


def docs_page(request: HttpRequest) -> HttpResponse:
    base_url = f"{request.scheme}://{request.get_host()}"
    context = {
        "base_url": base_url,
        "endpoints": endpoints(base_url),
        "error_rows": error_rows(),
        "error_example": json_text(ERROR_EXAMPLE),
        "async_snippets": [
            Snippet("python", "Python", [("", async_python(base_url))]),
            Snippet("javascript", "JavaScript", [("", async_javascript(base_url))]),
        ],
        "key_env": KEY_ENV,
        "key_example": API_KEY_EXAMPLE,
        "sync_wait_seconds": settings.API_SYNC_WAIT_SECONDS,
        "idempotency_ttl_hours": settings.IDEMPOTENCY_KEY_TTL_HOURS,
        "batch_max_images": BATCH_MAX_IMAGES,
    }
    return render(request, "docs/index.html", context)
