"""One scheme rule for image URLs and webhook URLs: schemes are case-insensitive (RFC 3986), so
`HTTP://` is accepted and normalised on both paths, and other schemes are refused on both."""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image
from rest_framework.test import APIClient

from accounts.models import Account
from core.outgoing import outgoing_url_parse, url_scheme
from imaging.inputs import image_source_supported
from imaging.models import Task
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db

ASYNC = {"HTTP_PREFER": "respond-async"}


class PngHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        buffer = io.BytesIO()
        Image.new("RGB", (24, 24), "navy").save(buffer, "PNG")
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(buffer.getvalue())))
        self.end_headers()
        self.wfile.write(buffer.getvalue())


@pytest.fixture
def image_port(settings: Any) -> Iterator[int]:
    settings.NANOBANANA_FETCH_ALLOW_HOSTS = ["127.0.0.1"]
    server = ThreadingHTTPServer(("127.0.0.1", 0), PngHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize("scheme", ["HTTP", "Http", "hTTp"])
def test_an_image_url_with_an_upper_case_scheme_is_fetched(
    authed_client: APIClient, account: Account, image_port: int, scheme: str
) -> None:
    body = {"image_url": f"{scheme}://127.0.0.1:{image_port}/cat.png", "enhancement_type": "color"}
    response = authed_client.post("/v1/enhance", body, format="json", **ASYNC)
    assert response.status_code == 202, response.json()
    assert Task.objects.for_account(account).count() == 1


def test_a_data_url_with_an_upper_case_scheme_is_accepted(authed_client: APIClient) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "PNG")
    source = "DATA:IMAGE/PNG;BASE64," + base64.b64encode(buffer.getvalue()).decode()
    body = {"image_url": source, "enhancement_type": "color"}
    response = authed_client.post("/v1/enhance", body, format="json", **ASYNC)
    assert response.status_code == 202, response.json()


def test_a_webhook_url_with_an_upper_case_scheme_is_accepted_and_stored_normalised(
    authed_client: APIClient, account: Account
) -> None:
    response = authed_client.post(
        "/v1/webhooks", {"url": "HTTPS://1.1.1.1/hooks/nanobanana"}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["url"] == "https://1.1.1.1/hooks/nanobanana"
    assert WebhookEndpoint.objects.for_account(account).get().url == (
        "https://1.1.1.1/hooks/nanobanana"
    )


@pytest.mark.parametrize("url", ["FTP://1.1.1.1/a.png", "File:///etc/passwd", "GOPHER://1.1.1.1/"])
def test_other_schemes_are_refused_on_both_paths_whatever_their_case(
    authed_client: APIClient, account: Account, url: str
) -> None:
    image = authed_client.post("/v1/enhance", {"image_url": url}, format="json", **ASYNC)
    webhook = authed_client.post("/v1/webhooks", {"url": url}, format="json")
    assert (image.status_code, webhook.status_code) == (400, 400)
    assert image.json()["error"]["code"] == webhook.json()["error"]["code"] == "INVALID_REQUEST"
    assert not Task.objects.for_account(account).exists()
    assert not WebhookEndpoint.objects.for_account(account).exists()


@pytest.mark.parametrize(
    ("raw", "scheme"),
    [("HTTP://a.test/", "http"), (" HttpS://a.test/", "https"), ("data:x", "data"), ("a.test", "")],
)
def test_the_scheme_is_read_case_insensitively(raw: str, scheme: str) -> None:
    assert url_scheme(raw) == scheme


def test_the_outgoing_url_rule_normalises_the_scheme() -> None:
    assert str(outgoing_url_parse("HTTP://Example.COM/a.png")) == "http://example.com/a.png"


@pytest.mark.parametrize(
    ("raw", "supported"),
    [
        ("HTTPS://example.com/a.png", True),
        ("Data:Image/png;base64,AAAA", True),
        ("data:text/plain;base64,AAAA", False),
        ("http:example.com/a.png", False),
        ("ftp://example.com/a.png", False),
        ("example.com/a.png", False),
    ],
)
def test_which_image_sources_are_supported(raw: str, supported: bool) -> None:
    assert image_source_supported(raw) is supported
