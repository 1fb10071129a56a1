"""A real HTTP receiver on 127.0.0.1 that checks Standard Webhooks signatures with its own code,
and helpers to make endpoints and finished tasks through the real services."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image

from accounts.models import Account
from billing.selectors import plan_get
from billing.services import subscription_set_plan
from core.operations import Operation
from imaging.models import Task
from imaging.services import ClaimResult, TaskInput, task_claim, task_submit
from webhooks.models import WebhookEndpoint
from webhooks.services import webhook_endpoint_create
from webhooks.signing import webhook_endpoint_secret


def spec_signature_valid(*, secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Standard Webhooks verification written from the spec, sharing no code with ours: HMAC-SHA256
    keyed with base64-decoded secret (after `whsec_`) over `{id}.{timestamp}.{body}`, base64, and
    compared with each space-separated `v1,<signature>`."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = b".".join(
        [headers["webhook-id"].encode(), headers["webhook-timestamp"].encode(), body]
    )
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(candidate, f"v1,{expected}")
        for candidate in headers["webhook-signature"].split(" ")
    )


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_valid: bool | None


class Receiver(ThreadingHTTPServer):
    """Answers POSTs with the statuses queued in `answers` (then 200), recording each request."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[Received] = []
        self.answers: list[int] = []
        self.secret: str | None = None
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks"

    def reset(self, *, answers: list[int] | None = None, secret: str | None = None) -> None:
        with self.lock:
            self.received.clear()
            self.answers = list(answers or [])
            self.secret = secret


class _Handler(BaseHTTPRequestHandler):
    server: Receiver
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        with self.server.lock:
            secret = self.server.secret
            valid = (
                spec_signature_valid(secret=secret, headers=headers, body=body) if secret else None
            )
            self.server.received.append(Received(self.path, headers, body, valid))
            status = self.server.answers.pop(0) if self.server.answers else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_GET(self) -> None:
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def receiver(receiver_server: Receiver, settings: Any) -> Receiver:
    """The receiver, emptied, with 127.0.0.1 allowed as a callback host for this test."""
    settings.NANOBANANA_FETCH_ALLOW_HOSTS = ["127.0.0.1"]
    receiver_server.reset()
    return receiver_server


@pytest.fixture
def endpoint(account: Account, receiver: Receiver) -> WebhookEndpoint:
    endpoint = webhook_endpoint_create(account=account, url=receiver.url, description="test")
    receiver.reset(secret=webhook_endpoint_secret(endpoint=endpoint))
    return endpoint


def processing_task(account: Account) -> Task:
    """A submitted task claimed by a worker, ready for `task_complete` or `task_fail`."""
    subscription_set_plan(account=account, plan=plan_get(code="pro"))  # room to run several
    task = task_submit(
        account=account,
        operation=Operation.ENHANCE,
        task_input=TaskInput(params={}, images=(Image.new("RGB", (16, 12), (9, 9, 9)),)),
    )
    assert task_claim(task_id=task.pk) == ClaimResult.CLAIMED
    return task
