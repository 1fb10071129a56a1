"""A small local stand-in for Stripe's HTTP API, so tests run the real SDK over real HTTP.

It serves the few endpoints billing uses, answering objects in the pinned API version's shape from
dicts the test sets (`subscriptions`, `invoices`), and records every request it received.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class StubRequest:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class StripeStub:
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[StubRequest] = field(default_factory=list)
    base_url: str = ""
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _server: ThreadingHTTPServer | None = None

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_stub{next(self._ids):06d}"

    def start(self) -> StripeStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub._handle(self, "GET")

            def do_POST(self) -> None:
                stub._handle(self, "POST")

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- routing ---------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode() if length else ""
        params = dict(parse_qsl(url.query if method == "GET" else body, keep_blank_values=True))
        self.requests.append(StubRequest(method, url.path, params, dict(handler.headers.items())))
        if handler.headers.get("Authorization") != "Bearer sk_test_stub":
            return self._send(handler, 401, _error("invalid_request_error", "Invalid API Key"))
        status, payload = self._route(method, url.path, params)
        self._send(handler, status, payload)

    def _route(self, method: str, path: str, params: dict[str, str]) -> tuple[int, dict]:
        if method == "POST" and path == "/v1/checkout/sessions":
            return 200, self._checkout_session(params)
        if method == "POST" and path == "/v1/billing_portal/sessions":
            session_id = self.new_id("bps")
            return 200, {
                "id": session_id,
                "object": "billing_portal.session",
                "customer": params["customer"],
                "return_url": params.get("return_url"),
                "livemode": False,
                "url": f"https://billing.stripe.test/p/session/{session_id}",
            }
        if method == "GET" and path.startswith("/v1/subscriptions/"):
            subscription = self.subscriptions.get(path.rsplit("/", 1)[1])
            if subscription is None:
                return 404, _error(
                    "invalid_request_error", "No such subscription", "resource_missing"
                )
            subscription = json.loads(json.dumps(subscription))
            if "latest_invoice" in params.values() and subscription.get("latest_invoice"):
                subscription["latest_invoice"] = self.invoices[subscription["latest_invoice"]]
            return 200, subscription
        return 404, _error("invalid_request_error", f"Unrecognized request URL ({method} {path})")

    def _checkout_session(self, params: dict[str, str]) -> dict:
        session_id = self.new_id("cs_test")
        return {
            "id": session_id,
            "object": "checkout.session",
            "mode": params["mode"],
            "status": "open",
            "client_reference_id": params.get("client_reference_id"),
            "customer": params.get("customer"),
            "customer_email": params.get("customer_email"),
            "metadata": {"account_id": params.get("metadata[account_id]")},
            "subscription": None,
            "success_url": params["success_url"],
            "cancel_url": params["cancel_url"],
            "livemode": False,
            "url": f"https://checkout.stripe.test/c/pay/{session_id}",
        }

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Request-Id", f"req_stub{time.monotonic_ns()}")
        handler.end_headers()
        handler.wfile.write(body)


def _error(kind: str, message: str, code: str | None = None) -> dict:
    return {"error": {"type": kind, "message": message, "code": code}}


# --- objects in the pinned version's shape --------------------------------------------------------


def subscription_object(
    *,
    subscription_id: str,
    customer_id: str,
    price_id: str,
    status: str = "active",
    period_start: int,
    period_end: int,
    account_id: int | None = None,
    latest_invoice: str | None = None,
    cancel_at_period_end: bool = False,
) -> dict:
    """A Subscription; since the 2025 "basil" versions the period lives on the item."""
    return {
        "id": subscription_id,
        "object": "subscription",
        "customer": customer_id,
        "status": status,
        "cancel_at_period_end": cancel_at_period_end,
        "cancel_at": period_end if cancel_at_period_end else None,
        "canceled_at": None,
        "ended_at": None,
        "billing_cycle_anchor": period_start,
        "created": period_start,
        "livemode": False,
        "metadata": {"account_id": str(account_id)} if account_id is not None else {},
        "latest_invoice": latest_invoice,
        "items": {
            "object": "list",
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={subscription_id}",
            "data": [
                {
                    "id": f"si_{subscription_id}",
                    "object": "subscription_item",
                    "subscription": subscription_id,
                    "quantity": 1,
                    "current_period_start": period_start,
                    "current_period_end": period_end,
                    "price": {
                        "id": price_id,
                        "object": "price",
                        "active": True,
                        "currency": "usd",
                        "recurring": {"interval": "month", "interval_count": 1},
                        "type": "recurring",
                    },
                }
            ],
        },
    }


def invoice_object(
    *,
    invoice_id: str,
    customer_id: str,
    subscription_id: str,
    status: str = "paid",
    period_start: int,
    period_end: int,
    billing_reason: str = "subscription_cycle",
) -> dict:
    """An Invoice; since "basil" its subscription is under `parent.subscription_details`."""
    return {
        "id": invoice_id,
        "object": "invoice",
        "customer": customer_id,
        "status": status,
        "billing_reason": billing_reason,
        "livemode": False,
        "parent": {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"subscription": subscription_id, "metadata": {}},
        },
        "lines": {
            "object": "list",
            "has_more": False,
            "data": [
                {
                    "id": f"il_{invoice_id}",
                    "object": "line_item",
                    "period": {"start": period_start, "end": period_end},
                }
            ],
        },
    }


def event_payload(*, event_type: str, obj: dict, event_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "type": event_type,
            "data": {"object": obj},
        }
    ).encode()


def sign(payload: bytes, *, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header exactly as Stripe builds it."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload.decode()}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"
