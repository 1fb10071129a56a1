"""The request schema promises no more than the server takes: what it allows is accepted, and
what the server refuses for its shape (a blank or malformed URL, a blank prompt) the schema
refuses too. test_schemathesis checks the same end to end; these name the rules one by one."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from api.schema.components import (
    DATA_URL_PATTERN,
    HTTP_URL_PATTERN,
    NON_BLANK_TEXT_PATTERN,
    TEXT_PATTERN,
)
from imaging import inputs

FUZZ = settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def request_schema(schema: dict[str, Any], path: str, method: str = "post") -> dict[str, Any]:
    """The operation's JSON body schema, self-contained for a validator."""
    body = schema["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    return {**body, "components": schema["components"]}


def allowed(schema: dict[str, Any], body: dict[str, Any], path: str, method: str = "post") -> bool:
    validator = jsonschema.Draft202012Validator(request_schema(schema, path, method))
    return validator.is_valid(body)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "example.com/hook",
        "ftp://example.com/hook",
        "http://",
        "https://user:secret@example.com/hook",
        "https://exa mple.com/hook",
        "https://example.com:99999/hook",
    ],
)
def test_the_schema_refuses_webhook_urls_the_server_refuses(
    schema: dict[str, Any], url: str
) -> None:
    assert not allowed(schema, {"url": url}, "/v1/webhooks")


def test_the_schema_allows_an_ordinary_webhook_url(schema: dict[str, Any]) -> None:
    assert allowed(schema, {"url": "https://hooks.example.com:8443/nb?x=1"}, "/v1/webhooks")
    assert allowed(schema, {"url": "http://93.184.215.14/hook", "description": ""}, "/v1/webhooks")


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t", "a\x00b"])
def test_the_schema_refuses_prompts_the_server_refuses(schema: dict[str, Any], prompt: str) -> None:
    assert not allowed(schema, {"prompt": prompt}, "/v1/text-to-image")


@pytest.mark.parametrize(
    "image_url",
    ["", "example.com/a.png", "http://", "https://u:p@example.com/a.png", "data:image/png,abc"],
)
def test_the_schema_refuses_image_sources_the_server_refuses(
    schema: dict[str, Any], image_url: str
) -> None:
    assert not allowed(schema, {"image_url": image_url}, "/v1/enhance")


def test_the_description_may_be_blank_but_not_hold_nul(schema: dict[str, Any]) -> None:
    path = "/v1/webhooks/{endpoint_id}"
    assert allowed(schema, {"description": ""}, path, "patch")
    assert allowed(schema, {"description": "  ops team  "}, path, "patch")
    assert not allowed(schema, {"description": "a\x00"}, path, "patch")


@FUZZ
@given(url=st.from_regex(HTTP_URL_PATTERN))
def test_every_url_the_pattern_allows_is_a_url_the_server_takes(url: str) -> None:
    inputs.outgoing_url_parse(url.strip())  # raises UrlRefused otherwise


@FUZZ
@given(data_url=st.from_regex(DATA_URL_PATTERN))
def test_every_data_url_the_pattern_allows_is_one_the_server_reads(data_url: str) -> None:
    assert inputs.image_from_data_url(data_url=data_url.strip(), max_bytes=10**7)


@FUZZ
@given(text=st.from_regex(NON_BLANK_TEXT_PATTERN))
def test_every_text_the_non_blank_pattern_allows_is_a_non_blank_char_field(text: str) -> None:
    serializers.CharField().run_validation(text)  # raises ValidationError otherwise


@FUZZ
@given(text=st.from_regex(TEXT_PATTERN))
def test_every_text_the_text_pattern_allows_is_a_char_field_value(text: str) -> None:
    serializers.CharField(allow_blank=True).run_validation(text)
