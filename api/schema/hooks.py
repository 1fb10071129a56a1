"""How drf-spectacular reads /v1: `ApiAutoSchema` (the DEFAULT_SCHEMA_CLASS) and the pre- and
postprocessing hooks that settings name.
Details: docs/api.md#the-openapi-schema"""

from __future__ import annotations

import copy
from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ComponentIdentity, ResolvedComponent, is_serializer
from rest_framework import serializers

# components also registers the auth and field extensions, before any schema is generated.
from api.schema.components import (
    NON_BLANK_TEXT_PATTERN,
    TEXT_PATTERN,
    application_error_codes,
    error_response,
)
from api.schema.examples import API_DESCRIPTION, IMAGE_OPERATIONS
from api.schema.headers import IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, RESPONSE_HEADERS
from api.serializers import ALWAYS

MULTIPART = "multipart/form-data"
FORM = "application/x-www-form-urlencoded"
TAGS_BY_PATH = {
    "account": "Account",
    "task": "Tasks",
    "tasks": "Tasks",
    "batch": "Tasks",
    "webhooks": "Webhooks",
}


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
        if hasattr(self.view, "QuerySerializer"):
            statuses.add(400)  # query parameters
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


# --- Hooks ----------------------------------------------------------------------------------------


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
