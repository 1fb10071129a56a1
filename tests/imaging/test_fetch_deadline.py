"""One request's image URLs are fetched concurrently under one deadline: N slow URLs cost about
one delay, never N, and N URLs that never answer cost one deadline."""

from __future__ import annotations

import base64
import io
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.utils import translation
from PIL import Image

from core.errors import InvalidRequest
from imaging import inputs
from imaging.inputs import images_load
from tests.imaging.test_inputs_fetch import start

MB = 1024 * 1024
DELAY = 1.0  # each slow URL answers after this long


def png(size: tuple[int, int] = (16, 12)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 90)).save(buffer, "PNG")
    return buffer.getvalue()


PNG = png()


class SlowServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), SlowHandler)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client hanging up at its deadline is what these tests do

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def urls(self, path: str, count: int) -> list[str]:
        return [self.url(f"{path}?n={n}") for n in range(count)]


class SlowHandler(BaseHTTPRequestHandler):
    server: SlowServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.in_flight += 1
            self.server.most_in_flight = max(self.server.most_in_flight, self.server.in_flight)
        try:
            path = self.path.split("?")[0]
            if path == "/slow.png" and not self.server.stop.wait(DELAY):
                self.send_body(200, "image/png", PNG)
            elif path == "/never.png":
                self.server.stop.wait(30)
            elif path == "/missing.png":
                self.send_body(404, "text/plain", b"not found")
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with self.server.lock:
                self.server.in_flight -= 1

    def send_body(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[SlowServer]:
    yield from start(SlowServer())


@pytest.fixture(autouse=True)
def allow_local(settings: Any) -> None:
    settings.NANOBANANA_FETCH_ALLOW_HOSTS = ["127.0.0.1"]


def load(urls: list[str]) -> list[Image.Image]:
    return images_load(sources=urls, operation="batch_edit", max_bytes=MB, max_pixels=10**6)


def test_six_slow_urls_take_about_one_delay_not_six(server: SlowServer, settings: Any) -> None:
    settings.IMAGE_FETCH_TIMEOUT_SECONDS = 4 * DELAY
    started = time.monotonic()
    images = load(server.urls("/slow.png", 6))
    elapsed = time.monotonic() - started
    assert [image.size for image in images] == [(16, 12)] * 6
    assert DELAY <= elapsed < 2.5 * DELAY  # one after another would be 6 delays
    assert server.most_in_flight == 6


def test_urls_that_never_answer_cost_one_deadline_for_the_whole_request(
    server: SlowServer, settings: Any
) -> None:
    """The setting is the request's deadline: six silent URLs do not get one each."""
    settings.IMAGE_FETCH_TIMEOUT_SECONDS = 1.0
    started = time.monotonic()
    with pytest.raises(InvalidRequest, match="took too long"):
        load(server.urls("/never.png", 6))
    assert time.monotonic() - started < 1.0 + 1.0


def test_the_deadline_is_shared_by_urls_in_any_order(server: SlowServer, settings: Any) -> None:
    """A silent URL first holds the request no longer than one deadline either."""
    settings.IMAGE_FETCH_TIMEOUT_SECONDS = 1.5
    started = time.monotonic()
    with pytest.raises(InvalidRequest, match="took too long"):
        load([server.url("/never.png"), *server.urls("/slow.png", 3)])
    assert time.monotonic() - started < 1.5 + 1.0


def test_a_url_that_fails_answers_at_once_without_waiting_for_the_slow_ones(
    server: SlowServer, settings: Any
) -> None:
    settings.IMAGE_FETCH_TIMEOUT_SECONDS = 10.0
    started = time.monotonic()
    with pytest.raises(InvalidRequest, match="HTTP status 404"):
        load([*server.urls("/never.png", 3), server.url("/missing.png")])
    assert time.monotonic() - started < 1.0


def test_a_request_opens_a_bounded_number_of_connections(server: SlowServer, settings: Any) -> None:
    settings.IMAGE_FETCH_TIMEOUT_SECONDS = 10.0
    images = load(server.urls("/slow.png", inputs.MAX_CONCURRENT_FETCHES + 4))
    assert len(images) == inputs.MAX_CONCURRENT_FETCHES + 4
    assert server.most_in_flight == inputs.MAX_CONCURRENT_FETCHES


def test_images_come_back_in_the_order_of_their_sources(server: SlowServer, settings: Any) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(png((5, 7))).decode("ascii")
    images = load([server.url("/slow.png"), data_url, server.url("/slow.png?again")])
    assert [image.size for image in images] == [(16, 12), (5, 7), (16, 12)]


def test_errors_of_concurrent_fetches_speak_the_requests_language(
    server: SlowServer, settings: Any
) -> None:
    settings.IMAGE_FETCH_TIMEOUT_SECONDS = 10.0
    english = "The image URL answered with HTTP status %(status)d."
    with translation.override("zh-hans"):
        expected = translation.gettext(english)
        with pytest.raises(InvalidRequest) as refused:
            load([server.url("/slow.png"), server.url("/missing.png")])
        assert str(refused.value.details) == expected % {"status": 404}
    assert expected != english  # the message has a translation to tell them apart
