"""Every failure under /v1 answers in the reference's envelope, with a request id."""

import logging
import re

import pytest
from rest_framework.test import APIClient

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.api.errors_urls")]

GENERATED_ID = re.compile(r"^req_[0-9a-f]{24}$")


def assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"success", "error", "request_id"}
    assert body["success"] is False
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert body["request_id"] == response["X-Request-ID"]
    return body


def test_unknown_v1_path_is_a_404_envelope(api_client: APIClient) -> None:
    assert_envelope(api_client.get("/v1/no-such-endpoint"), 404, "NOT_FOUND")


def test_wrong_method_is_a_405_envelope(authed_client: APIClient) -> None:
    body = assert_envelope(authed_client.delete("/v1/account"), 405, "METHOD_NOT_ALLOWED")
    assert "DELETE" in body["error"]["details"]


def test_unparseable_json_is_a_400_invalid_request(api_client: APIClient) -> None:
    response = api_client.post(
        "/v1/_test/echo", data='{"prompt": "unterminated', content_type="application/json"
    )
    body = assert_envelope(response, 400, "INVALID_REQUEST")
    assert "JSON" in body["error"]["details"]


def test_unsupported_media_type_is_a_415_unsupported_format(api_client: APIClient) -> None:
    response = api_client.post("/v1/_test/echo", data="<x/>", content_type="application/xml")
    assert_envelope(response, 415, "UNSUPPORTED_FORMAT")


def test_well_formed_json_reaches_the_view(api_client: APIClient) -> None:
    response = api_client.post("/v1/_test/echo", data={"prompt": "猫"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"received": {"prompt": "猫"}}


def test_unexpected_exception_is_a_500_envelope_without_internals(
    api_client: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = api_client.get("/v1/_test/crash")
    body = assert_envelope(response, 500, "PROCESSING_ERROR")
    assert "boom" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    logged = [r for r in caplog.records if r.exc_info and "boom" in str(r.exc_info[1])]
    assert logged and logged[0].request_id == body["request_id"]


def test_throttling_is_a_429_with_integer_retry_after(api_client: APIClient) -> None:
    response = api_client.get("/v1/_test/throttled")
    assert_envelope(response, 429, "RATE_LIMIT_EXCEEDED")
    assert response["Retry-After"] == "7"


def test_bad_host_under_v1_is_a_400_envelope(api_client: APIClient) -> None:
    response = api_client.get("/v1/account", HTTP_HOST="evil.example.com")
    assert_envelope(response, 400, "INVALID_REQUEST")


def test_pages_outside_v1_keep_html_404(api_client: APIClient) -> None:
    response = api_client.get("/no-such-page")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


class TestRequestIds:
    def test_generated_when_the_client_sends_none(self, api_client: APIClient) -> None:
        response = api_client.get("/v1/account")
        assert GENERATED_ID.match(response["X-Request-ID"])

    def test_a_sane_client_id_is_kept(self, api_client: APIClient) -> None:
        response = api_client.get("/v1/account", HTTP_X_REQUEST_ID="client-trace.42")
        assert response["X-Request-ID"] == "client-trace.42"
        assert response.json()["request_id"] == "client-trace.42"

    @pytest.mark.parametrize(
        "bad", ["has space", "x" * 200, "<script>", "new\nline", "-leading-dash", "ünï"]
    )
    def test_an_unsafe_client_id_is_replaced(self, api_client: APIClient, bad: str) -> None:
        response = api_client.get("/v1/account", HTTP_X_REQUEST_ID=bad)
        assert GENERATED_ID.match(response["X-Request-ID"])

    def test_every_response_carries_one_even_success(self, authed_client: APIClient) -> None:
        assert GENERATED_ID.match(authed_client.get("/v1/account")["X-Request-ID"])

    def test_the_access_log_line_carries_the_same_id(
        self, authed_client: APIClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.INFO, logger="api.access"):
            response = authed_client.get("/v1/account", HTTP_X_REQUEST_ID="trace-1234")
        lines = [r for r in caplog.records if r.name == "api.access"]
        assert [r.request_id for r in lines] == ["trace-1234"]
        assert "GET /v1/account 200" in lines[0].getMessage()
        assert response["X-Request-ID"] == "trace-1234"


class TestMessagesFollowAcceptLanguage:
    def test_english_by_default(self, api_client: APIClient) -> None:
        body = api_client.get("/v1/account", HTTP_AUTHORIZATION="Bearer nk_live_short").json()
        assert body["error"]["message"] == "Invalid or expired API key"
        assert body["error"]["details"] == "The API key is malformed"

    @pytest.mark.parametrize("header", ["zh-CN", "zh-Hans", "zh-CN,zh;q=0.9,en;q=0.8", "zh"])
    def test_chinese_when_asked(self, api_client: APIClient, header: str) -> None:
        response = api_client.get(
            "/v1/account", HTTP_AUTHORIZATION="Bearer nk_live_short", HTTP_ACCEPT_LANGUAGE=header
        )
        body = response.json()
        assert body["error"]["code"] == "INVALID_API_KEY"
        assert body["error"]["message"] == "API密钥无效或已过期"
        assert body["error"]["details"] == "API密钥格式错误"

    def test_validation_message_in_chinese(self, api_client: APIClient) -> None:
        response = api_client.post(
            "/v1/_test/echo",
            data="{",
            content_type="application/json",
            HTTP_ACCEPT_LANGUAGE="zh-CN",
        )
        assert response.json()["error"]["message"] == "请求参数无效"
