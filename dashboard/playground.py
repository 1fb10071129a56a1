"""The playground's forms and "copy as" snippets, derived from the operation's API serializer:
the fields, their limits, choices and defaults are the API's own, never a second list."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from api.apis import OperationApi
from api.serializers import UploadOrUrl
from core.operations import Operation, operation_slug
from imaging.engine.types import client_params

LONG_TEXT = {"prompt"}


@dataclass(frozen=True)
class FieldSpec:
    """One form control for one API field."""

    name: str
    kind: str  # image | images | text | textarea | number | choice | boolean
    required: bool
    default: Any = None
    choices: list[str] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None
    step: str = "any"

    @property
    def upload_name(self) -> str:
        return self.name.removesuffix("_url")

    @property
    def label(self) -> Any:
        return FIELD_LABELS.get(self.name, self.name)


def field_specs(api: type[OperationApi]) -> list[FieldSpec]:
    return [_spec(name, f) for name, f in api.InputSerializer().fields.items()]


def _spec(name: str, f: serializers.Field) -> FieldSpec:
    default = None if f.default is serializers.empty else f.default
    common: dict[str, Any] = {"name": name, "required": f.required, "default": default}
    if isinstance(f, UploadOrUrl):
        return FieldSpec(kind="image", **common)
    if isinstance(f, serializers.ListField):
        return FieldSpec(kind="images", **common)
    if isinstance(f, serializers.BooleanField):
        return FieldSpec(kind="boolean", **common)
    if isinstance(f, serializers.ChoiceField):
        return FieldSpec(kind="choice", choices=[str(c) for c in f.choices], **common)
    if isinstance(f, serializers.IntegerField | serializers.FloatField):
        integer = isinstance(f, serializers.IntegerField)
        return FieldSpec(kind="number", minimum=f.min_value, maximum=f.max_value,
                         step="1" if integer else "0.05", **common)  # fmt: skip
    return FieldSpec(kind="textarea" if name in LONG_TEXT else "text", **common)


def form_fields(api: type[OperationApi], post: Any) -> dict[str, Any]:
    """The submitted form as API fields: empty optional values left out (the API's defaults
    apply), booleans as true/false, a batch's URLs one per line."""
    values: dict[str, Any] = {}
    for spec in field_specs(api):
        raw = post.get(spec.name, "")
        if spec.kind == "images":
            urls = [line.strip() for line in str(raw).splitlines() if line.strip()]
            if urls:
                values[spec.name] = urls
        elif raw != "":
            values[spec.name] = raw
    return values


@dataclass(frozen=True)
class Snippets:
    curl: str
    python: str
    javascript: str


def snippets(operation: Operation, fields: dict[str, Any], *, base_url: str) -> Snippets:
    """The same request as curl, the Python SDK and the JavaScript SDK; an upload becomes a
    local file named like its field. The key comes from the environment (keys are shown once)."""
    # An uploaded file, or a stored task's image (a local file name now), goes as multipart.
    uploads = {
        name
        for name, value in fields.items()
        if hasattr(value, "read") or (isinstance(value, str) and value.startswith("./"))
    }
    shown = {
        name: f"./{name.removesuffix('_url')}.png" if name in uploads else value
        for name, value in fields.items()
    }
    return Snippets(
        curl=_curl(operation, shown, uploads, base_url),
        python=_python(operation, shown, base_url),
        javascript=_javascript(operation, shown, base_url),
    )


def _curl(operation: Operation, shown: dict[str, Any], uploads: set[str], base_url: str) -> str:
    lines = [
        f"curl -X POST {base_url}/v1/{operation_slug(operation)}",
        '-H "Authorization: Bearer $NANOBANANA_API_KEY"',
    ]
    if uploads:
        for name, value in shown.items():
            part = f"{name.removesuffix('_url')}=@{value}" if name in uploads else f"{name}={value}"
            lines.append(f"-F {shlex.quote(part)}")
    else:
        lines.append("-H 'Content-Type: application/json'")
        lines.append(f"-d {shlex.quote(json.dumps(shown, ensure_ascii=False))}")
    return " \\\n  ".join(lines)


def _python(operation: Operation, shown: dict[str, Any], base_url: str) -> str:
    call = (
        f"client.{PYTHON_METHODS[operation]}({', '.join(f'{k}={v!r}' for k, v in shown.items())})"
    )
    if operation == Operation.BATCH_EDIT:
        last = f"batch = {call}\nprint([t.result.image_url for t in batch.tasks if t.result])"
    else:
        last = f"result = {call}\nprint(result.image_url)"
    return (
        "from nanobanana import NanoBananaClient\n\n"
        f'client = NanoBananaClient(base_url="{base_url}/v1")  # key: $NANOBANANA_API_KEY\n'
        f"{last}"
    )


def _javascript(operation: Operation, shown: dict[str, Any], base_url: str) -> str:
    params = ", ".join(
        f"{_camel(name)}: {json.dumps(value, ensure_ascii=False)}" for name, value in shown.items()
    )
    return (
        "import { NanoBananaAPI } from 'nanobanana-js'\n\n"
        "const client = new NanoBananaAPI({ apiKey: process.env.NANOBANANA_API_KEY, "
        f"baseURL: '{base_url}/v1' }})\n"
        f"const result = await client.{_camel(PYTHON_METHODS[operation])}({{ {params} }})\n"
        "console.log(result)"
    )


PYTHON_METHODS: dict[Operation, str] = {
    Operation.IMAGE_EDIT: "edit_image",
    Operation.REMOVE_BACKGROUND: "remove_background",
    Operation.TEXT_TO_IMAGE: "text_to_image",
    Operation.STYLE_TRANSFER: "style_transfer",
    Operation.ENHANCE: "enhance",
    Operation.BATCH_EDIT: "batch_edit",
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


# How the form names each API field (the field's own name is shown beside it).
FIELD_LABELS: dict[str, Any] = {
    "prompt": _("Prompt"),
    "image_url": _("Image"),
    "content_image_url": _("Content image"),
    "style_image_url": _("Style image"),
    "image_urls": _("Image URLs (one per line)"),
    "strength": _("Strength"),
    "preserve_scene": _("Preserve the scene"),
    "preserve_character": _("Keep the character consistent"),
    "style_consistency": _("Keep the style consistent"),
    "return_mask": _("Also return the mask"),
    "edge_smooth": _("Smooth the edges"),
    "width": _("Width"),
    "height": _("Height"),
    "style": _("Style"),
    "quality": _("Quality"),
    "enhancement_type": _("Enhancement"),
    "upscale_factor": _("Upscale factor"),
    "output_format": _("Output format"),
    "seed": _("Seed"),
}


def task_fields(task_params: dict[str, Any], api: type[OperationApi]) -> dict[str, Any]:
    """A stored task's request again (its parameters complete with defaults and seed); its
    images, stored as files, become local file names."""
    fields = {name: f"./{name.removesuffix('_url')}.png" for name in api.image_fields}
    return {**fields, **client_params(task_params)}
