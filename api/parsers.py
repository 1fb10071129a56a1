"""The JSON parser of every /v1 view: a body is one JSON object of bounded nesting, or a 400.
Details: docs/api.md#request-bodies"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.parsers import JSONParser

from core.errors import InvalidRequest

# Levels of objects and arrays: `{"image_urls": ["…"]}` is 2 deep. Far above what a request
# needs, far below the ~1,000 frames Python allows.
MAX_JSON_DEPTH = 32


class TooDeeplyNested(InvalidRequest):
    def __init__(self) -> None:
        super().__init__(
            _("The request body is nested deeper than %(limit)d levels.")
            % {"limit": MAX_JSON_DEPTH}
        )


class ApiJSONParser(JSONParser):
    """DRF's strict JSON parser, refusing a body that is not an object or nests too deeply."""

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: Any = None
    ) -> dict[str, Any]:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            # The C decoder gives up at the interpreter's recursion limit: deeper than ours.
            raise TooDeeplyNested() from None
        if not isinstance(data, Mapping):
            raise InvalidRequest(_("The request body must be a JSON object."))
        if json_depth(data) > MAX_JSON_DEPTH:
            raise TooDeeplyNested()
        return data


def json_depth(value: Any) -> int:
    """How many objects and arrays deep `value` nests (a scalar is 0), without recursing."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, Mapping):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        if depth > MAX_JSON_DEPTH:
            return depth  # deep enough to refuse: no need to walk the rest
        deepest = max(deepest, depth)
        pending.extend((child, depth) for child in children)
    return deepest
