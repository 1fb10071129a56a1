"""A real uvicorn over raw sockets: oversized request headers are refused with 431, and a body
that never finishes arriving with 408, both in the error envelope, and the connection closed."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.conftest import process_env
from tests.integration.stack import BIN, ROOT, free_port, server_answers, wait_until

pytestmark = pytest.mark.integration

BODY_TIMEOUT_SECONDS = 1.5
HEADER_LIMIT = 32 * 1024  # the default of REQUEST_MAX_HEADER_BYTES, not set for this server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """uvicorn as `make run` starts it (httptools, no extra flags), a short body deadline."""
    port = free_port()
    env = process_env(
        NANOBANANA_VAR_DIR=str(tmp_path_factory.mktemp("var")),
        REQUEST_BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT_SECONDS),
    )
    process = subprocess.Popen(
        [str(BIN / "uvicorn"), "config.asgi:application", "--port", str(port), "--lifespan", "off"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: server_answers(f"http://127.0.0.1:{port}/healthz"), 30, "uvicorn")
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=15)


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (it must close it)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def request_head(method: str, path: str, *extra: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *extra, "", ""]
    return "\r\n".join(lines).encode("latin-1")


def test_an_8_mb_header_is_refused_with_431_in_the_envelope(server: int) -> None:
    with connect(server) as sock:
        sock.sendall(request_head("GET", "/v1/account", "X-Padding: " + "a" * (8 * 1024 * 1024)))
        status, headers, body = parse(read_until_closed(sock))
    assert status == 431
    assert headers["connection"] == "close"
    envelope = json.loads(body)
    assert envelope["success"] is False
    assert envelope["error"]["code"] == "INVALID_REQUEST"
    assert str(HEADER_LIMIT) in envelope["error"]["details"]
    assert envelope["request_id"] == headers["x-request-id"]


def test_headers_under_the_limit_reach_the_app(server: int) -> None:
    with connect(server) as sock:
        sock.sendall(
            request_head("GET", "/v1/account", "X-Padding: " + "a" * 16_000, "Connection: close")
        )
        status, _headers, body = parse(read_until_closed(sock))
    assert status == 401
    assert json.loads(body)["error"]["code"] == "INVALID_API_KEY"


def test_oversized_headers_outside_the_api_get_plain_text_in_the_clients_language(
    server: int,
) -> None:
    with connect(server) as sock:
        sock.sendall(
            request_head("GET", "/dashboard", "Accept-Language: zh-CN", "Cookie: " + "a" * 40_000)
        )
        status, headers, body = parse(read_until_closed(sock))
    assert status == 431
    assert headers["content-type"].startswith("text/plain")
    assert str(HEADER_LIMIT).encode() in body


def test_a_body_that_never_arrives_is_answered_408_at_the_deadline(server: int) -> None:
    with connect(server) as sock:
        sock.sendall(
            request_head(
                "POST",
                "/v1/text-to-image",
                "Content-Type: application/json",
                "Content-Length: 1000",
                "Accept-Language: zh-CN",
            )
            + b'{"prompt": '
        )
        started = time.monotonic()
        status, headers, body = parse(read_until_closed(sock))
        elapsed = time.monotonic() - started
    assert status == 408
    assert BODY_TIMEOUT_SECONDS - 0.2 < elapsed < BODY_TIMEOUT_SECONDS + 3
    assert headers["connection"] == "close"
    envelope = json.loads(body)
    assert envelope["error"]["code"] == "INVALID_REQUEST"
    assert (
        envelope["error"]["message"] == "请求参数无效"
    )  # the envelope speaks the client's language


def test_a_body_dripped_a_byte_at_a_time_is_cut_off_at_the_same_deadline(server: int) -> None:
    """Slowloris: every byte arrives well within any per-read timeout, the body never ends."""
    with connect(server) as sock:
        sock.sendall(
            request_head(
                "POST", "/v1/webhooks", "Content-Type: application/json", "Content-Length: 500"
            )
        )
        started = time.monotonic()
        sock.settimeout(0.25)
        received = b""
        while time.monotonic() - started < BODY_TIMEOUT_SECONDS + 3:
            try:
                sock.sendall(b" ")
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if not chunk:
                break
            received += chunk
        elapsed = time.monotonic() - started
    status, _headers, _body = parse(received)
    assert status == 408
    assert elapsed < BODY_TIMEOUT_SECONDS + 3


def test_a_body_that_arrives_in_time_reaches_the_app(server: int) -> None:
    body = json.dumps({"url": "https://example.com/hook"}).encode()
    with connect(server) as sock:
        sock.sendall(
            request_head(
                "POST",
                "/v1/webhooks",
                "Content-Type: application/json",
                f"Content-Length: {len(body)}",
                "Connection: close",
            )
        )
        time.sleep(BODY_TIMEOUT_SECONDS / 3)  # slow, but the whole body is in before the deadline
        sock.sendall(body)
        status, _headers, answer = parse(read_until_closed(sock))
    assert status == 401
    assert json.loads(answer)["error"]["code"] == "INVALID_API_KEY"


def test_the_server_keeps_serving_after_refusals(server: int) -> None:
    assert server_answers(f"http://127.0.0.1:{server}/healthz")
