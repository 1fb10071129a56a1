"""The middleware stack: on the event loop under ASGI, and without the dashboard's cookie
machinery on /v1 (core/middleware.py)."""

import logging

import pytest
from asgiref.sync import async_to_sync
from django.core.handlers.asgi import ASGIHandler
from django.test import AsyncClient, Client

from accounts.models import User
from core.checks import required_middleware_check

pytestmark = pytest.mark.django_db


def test_the_asgi_chain_adapts_no_middleware_to_sync(caplog: pytest.LogCaptureFixture) -> None:
    # Django logs "Asynchronous handler adapted for middleware …" for each member that forces a
    # thread; one would make every waiting /v1 request hold a thread again.
    with caplog.at_level(logging.DEBUG, logger="django.request"):
        ASGIHandler()
    adapted = [r.getMessage() for r in caplog.records if "adapted" in r.getMessage()]
    assert adapted == []


def test_v1_answers_over_asgi_without_session_or_csrf_cookies() -> None:
    get = async_to_sync(AsyncClient().get)
    response = get("/v1/account", headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "INVALID_API_KEY"
    assert response.headers["Content-Language"] == "zh-hans"  # the locale middleware ran...
    assert any("\u4e00" <= c <= "\u9fff" for c in response.json()["error"]["message"])  # ...first
    assert response.headers["X-Content-Type-Options"] == "nosniff"  # the security one too
    assert response.headers["X-Request-ID"].startswith("req_")
    assert "Cookie" not in response.headers.get("Vary", "")
    assert not response.cookies


def test_the_dashboard_keeps_sessions_and_csrf(user: User) -> None:
    client = Client(enforce_csrf_checks=True)
    login_page = client.get("/accounts/login/")
    assert "csrftoken" in login_page.cookies
    # A form post without the token is refused: CSRF still guards the dashboard.
    refused = client.post("/accounts/login/", {"login": user.email, "password": "x"})
    assert refused.status_code == 403
    client.force_login(user)
    assert client.get("/profile").status_code == 200


def test_the_deploy_check_finds_the_subclasses_and_misses_a_removed_one(settings) -> None:
    assert required_middleware_check(None) == []
    settings.MIDDLEWARE = [
        path for path in settings.MIDDLEWARE if "Csrf" not in path and "XFrame" not in path
    ]
    assert {warning.id for warning in required_middleware_check(None)} == {
        "nanobanana.W002",
        "nanobanana.W003",
    }
