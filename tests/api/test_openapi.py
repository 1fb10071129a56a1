# ruff: noqa: RUF001
"""The OpenAPI description at /v1/openapi.json and the docs pages at /docs."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta
from typing import Any

import jsonschema
import pytest
from django.core.management import call_command
from django.urls import URLPattern, reverse
from django.utils import timezone
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from api import docs
from api import urls as api_urls
from api.schema.components import application_error_codes
from api.schema.examples import IMAGE_OPERATIONS
from api.waiting import finished_body
from imaging.models import Task

IMAGE_OPERATION_PATHS = [spec["path"] for spec in IMAGE_OPERATIONS.values()]
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return APIClient().get("/v1/openapi.json").json()


def operations(schema: dict[str, Any]):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        *_, kind, name = node["$ref"].split("/")
        node = schema["components"][kind][name]
    return node


def as_json_schema(schema: dict[str, Any], node: Any) -> Any:
    """An OpenAPI 3.0 schema object as plain JSON Schema (refs inlined, `nullable` as a type)."""
    if isinstance(node, list):
        return [as_json_schema(schema, item) for item in node]
    if not isinstance(node, dict):
        return node
    node = resolve(schema, node)
    converted = {key: as_json_schema(schema, value) for key, value in node.items()}
    if converted.pop("nullable", False) and "type" in converted:
        converted["type"] = [converted["type"], "null"]
    return converted


def test_the_schema_is_valid_openapi_3_and_generates_without_warnings(tmp_path) -> None:
    output = tmp_path / "openapi.json"
    # --fail-on-warn: drf-spectacular warns when it had to guess (an undocumented view, a
    # serializer it could not read, two components with one name).
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(output))
    validate_schema(APIClient().get("/v1/openapi.json").json())


def test_the_schema_and_the_docs_are_public_and_served_as_json(api_client: APIClient) -> None:
    response = api_client.get("/v1/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert response.json()["openapi"].startswith("3.")


def api_routes() -> list[tuple[str, str]]:
    """(OpenAPI path, method) of every route in api/urls.py, read from the URLconf itself."""
    routes = []
    for pattern in api_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        path = "/v1/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))
        view_class = pattern.callback.cls  # wait_for_result keeps it for drf-spectacular too
        methods = [m for m in METHODS if hasattr(view_class, m)]
        assert methods, path
        routes += [(path, method) for method in methods]
    return routes


def test_every_route_of_the_api_is_documented(schema: dict[str, Any]) -> None:
    documented = {(path, method) for path, method, _operation in operations(schema)}
    assert set(api_routes()) == documented
    assert "/v1/openapi.json" not in schema["paths"]


def test_operation_ids_are_unique_and_tagged(schema: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _path, _method, operation in operations(schema)]
    assert len(ids) == len(set(ids))
    for path, method, operation in operations(schema):
        assert operation["tags"][0][0].isupper(), (path, method, operation["tags"])
        assert operation["security"] == [{"ApiKey": []}]


@pytest.mark.parametrize("path", IMAGE_OPERATION_PATHS)
def test_image_operations_document_the_finished_and_the_accepted_answer(
    schema: dict[str, Any], path: str
) -> None:
    operation = schema["paths"][path]["post"]
    responses = operation["responses"]
    finished = resolve(schema, responses["200"]["content"]["application/json"]["schema"])
    reference_fields = ["task_id", "image_url", "description", "processing_time", "credits_used"]
    assert {"success", *reference_fields} <= set(finished["required"])
    accepted = responses["202"]["content"]["application/json"]["schema"]
    assert accepted == {"$ref": "#/components/schemas/TaskAccepted"}
    location = resolve(schema, responses["202"]["headers"]["Location"])
    assert location["required"] is True
    assert responses["202"]["links"]["GetTask"]["operationId"] == "task_retrieve"
    for status in ("400", "401", "402", "409", "413", "415", "429", "500", "503"):
        content = responses[status]["content"]["application/json"]
        assert content["schema"] == {"$ref": "#/components/schemas/ErrorEnvelope"}, status
    parameters = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
    assert {"Idempotency-Key", "Prefer"} <= set(parameters)
    assert not parameters["Prefer"].get("required")


@pytest.mark.parametrize(
    ("path", "uploads"),
    [
        ("/v1/image-edit", ["image"]),
        ("/v1/remove-background", ["image"]),
        ("/v1/style-transfer", ["content_image", "style_image"]),
        ("/v1/enhance", ["image"]),
    ],
)
def test_image_operations_take_json_or_multipart_with_a_file(
    schema: dict[str, Any], path: str, uploads: list[str]
) -> None:
    content = schema["paths"][path]["post"]["requestBody"]["content"]
    assert set(content) == {"application/json", "multipart/form-data"}
    json_body = resolve(schema, content["application/json"]["schema"])
    multipart = resolve(schema, content["multipart/form-data"]["schema"])
    for upload in uploads:
        assert upload not in json_body["properties"]
        assert multipart["properties"][upload] == {
            "type": "string",
            "format": "binary",
            "description": f"The image file itself, instead of `{upload}_url`.",
        }
        assert f"{upload}_url" in json_body["required"]
        assert f"{upload}_url" not in multipart.get("required", [])
    assert json_body["properties"][f"{uploads[0]}_url"]["pattern"] == "^(https?://|data:image/)"


def test_batch_edit_answers_its_body_directly_and_takes_json(schema: dict[str, Any]) -> None:
    operation = schema["paths"]["/v1/batch-edit"]["post"]
    assert set(operation["requestBody"]["content"]) == {"application/json"}
    assert "202" not in operation["responses"]
    body = resolve(schema, operation["responses"]["200"]["content"]["application/json"]["schema"])
    assert set(body["required"]) == {"success", "batch_id", "tasks", "total_credits"}
    assert "Prefer" not in {p["name"] for p in operation["parameters"]}


def test_every_post_takes_an_idempotency_key(schema: dict[str, Any]) -> None:
    for path, method, operation in operations(schema):
        names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        assert ("Idempotency-Key" in names) == (method == "post"), (path, method)
        if method == "post":
            assert "409" in operation["responses"], path


def test_every_response_documents_the_request_id_and_rate_limit_headers(
    schema: dict[str, Any],
) -> None:
    for path, method, operation in operations(schema):
        for status, response in operation["responses"].items():
            headers = {name: resolve(schema, h) for name, h in response.get("headers", {}).items()}
            assert headers["X-Request-ID"]["required"] is True, (path, method, status)
            assert {"RateLimit", "RateLimit-Policy"} <= set(headers), (path, method, status)
        assert resolve(schema, operation["responses"]["429"]["headers"]["Retry-After"])["required"]
        for status in ("401", "429", "500", "503"):
            assert status in operation["responses"], (path, method, status)
        if "{" in path:
            assert "404" in operation["responses"], (path, method)


def test_the_error_envelope_lists_every_error_code(schema: dict[str, Any]) -> None:
    envelope = schema["components"]["schemas"]["ErrorEnvelope"]
    assert set(envelope["required"]) == {"success", "error", "request_id"}
    assert envelope["properties"]["success"]["enum"] == [False]
    info = schema["components"]["schemas"]["ErrorInfo"]
    assert info["properties"]["code"]["enum"] == application_error_codes()
    assert {"INVALID_API_KEY", "INSUFFICIENT_CREDITS", "IDEMPOTENCY_CONFLICT"} <= set(
        application_error_codes()
    )


def test_a_real_error_and_a_real_202_match_the_schema(
    schema: dict[str, Any], authed_client: APIClient, api_client: APIClient
) -> None:
    envelope = as_json_schema(schema, {"$ref": "#/components/schemas/ErrorEnvelope"})
    jsonschema.validate(api_client.get("/v1/account").json(), envelope)
    response = authed_client.post(
        "/v1/text-to-image", {"prompt": "cat"}, format="json", HTTP_PREFER="respond-async"
    )
    assert response.status_code == 202
    accepted = as_json_schema(schema, {"$ref": "#/components/schemas/TaskAccepted"})
    jsonschema.validate(response.json(), accepted)


@pytest.mark.parametrize(
    ("operation", "mask_file", "component"),
    [
        ("image_edit", "", "OperationResult"),
        ("remove_background", "", "RemoveBackgroundResult"),
        ("remove_background", "results/a-mask.png", "RemoveBackgroundResult"),
    ],
)
def test_the_finished_answer_matches_the_schema(
    schema: dict[str, Any], operation: str, mask_file: str, component: str
) -> None:
    """No worker runs in these tests: the 200 body is built from a finished task directly."""
    now = timezone.now()
    task = Task(
        public_id="task_abc",
        operation=operation,
        status=Task.Status.COMPLETED,
        result_files=["results/a.png"],
        mask_file=mask_file,
        description="处理完成",
        credits=3,
        started_at=now - timedelta(seconds=2),
        completed_at=now,
    )
    result = as_json_schema(schema, {"$ref": f"#/components/schemas/{component}"})
    result["additionalProperties"] = False
    jsonschema.validate(finished_body(task), result, format_checker=jsonschema.FormatChecker())


# --- /docs ------------------------------------------------------------------------------------

CDN = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)


@pytest.mark.parametrize("name", ["docs", "docs_swagger", "redoc"])
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_docs_pages_render_without_any_cdn(
    api_client: APIClient, db: None, name: str, language: str
) -> None:
    response = api_client.get(reverse(name), HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    html = response.content.decode()
    assert not CDN.search(html), CDN.search(html)
    assert "fonts.googleapis.com" not in html
    if name != "docs":
        assert "/static/drf_spectacular_sidecar/" in html
        assert "/v1/openapi.json" in html


def test_the_docs_page_shows_every_reference_endpoint_in_three_languages(
    api_client: APIClient, db: None, settings
) -> None:
    settings.ALLOWED_HOSTS = ["api.example.test"]
    html = api_client.get("/docs", HTTP_HOST="api.example.test").content.decode()
    for path in [*IMAGE_OPERATION_PATHS, "/v1/batch-edit", "/v1/account", "/v1/task/"]:
        assert f"http://api.example.test{path}" in html, path
    assert html.count('role="tab"') == 8 * 3 + 2  # the reference's 8 endpoints, then polling
    for example in ("curl -X POST", "requests.post(", "await fetch("):
        assert example in html
    assert "将人物背景改为海滩风景，保持人物不变" in html  # the reference's prompt
    assert "Change the background to a beach scene" in html
    for header in ("Idempotency-Key", "Prefer: respond-async", "202 Accepted", "Location"):
        assert header in html
    for code in application_error_codes():
        assert code in html
    for link in (reverse("docs_swagger"), reverse("redoc"), reverse("openapi")):
        assert f'href="{link}' in html


def test_the_docs_page_follows_the_language(api_client: APIClient, db: None) -> None:
    english = api_client.get("/docs", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    chinese = api_client.get("/docs", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert '<html lang="en">' in english and 'data-default-prompt="en"' in english
    assert '<html lang="zh-hans">' in chinese and 'data-default-prompt="zh"' in chinese


def all_snippets(base_url: str) -> list[tuple[str, str]]:
    found = [
        (snippet.language, code)
        for endpoint in docs.endpoints(base_url)
        for snippet in endpoint.snippets
        for _prompt, code in snippet.variants
    ]
    return [
        *found,
        ("python", docs.async_python(base_url)),
        ("javascript", docs.async_javascript(base_url)),
    ]


def test_the_python_examples_are_valid_python() -> None:
    for language, code in all_snippets("https://api.example.test"):
        if language == "python":
            compile(code, "<example>", "exec")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_javascript_examples_are_valid_modules(tmp_path) -> None:
    for index, (language, code) in enumerate(all_snippets("https://api.example.test")):
        if language == "javascript":
            module = tmp_path / f"example{index}.mjs"
            module.write_text(code)
            subprocess.run(["node", "--check", str(module)], check=True, timeout=30)


def test_the_curl_examples_quote_their_json_for_the_shell() -> None:
    code = docs.curl_snippet(
        base_url="http://h", method="POST", path="/v1/x", body={"prompt": "the person's hat"}
    )
    assert "-d '{\n  \"prompt\": \"the person'\\''s hat\"\n}'" in code
    if shutil.which("bash"):
        # The shell hands curl exactly the JSON (curl itself is replaced by printf).
        script = code.replace("curl ", "printf '%s\\n' ", 1)
        output = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
        assert '"prompt": "the person\'s hat"' in output.stdout
