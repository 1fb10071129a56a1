"""Every 429 and 503 the app sends says when to retry (`Retry-After`, whole seconds)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client, override_settings
from django.urls import include, path
from rest_framework import exceptions as drf
from rest_framework.test import APIClient

from accounts.models import Account
from api.errors import envelope_response, exception_handler
from billing.selectors import account_billing_summary
from config.celery import app as celery_app
from config.urls import handler400, handler404, handler500  # noqa: F401 (Django reads them here)
from config.urls import urlpatterns as project_urlpatterns
from core.errors import ApplicationError, RateLimitExceeded, TemporaryUnavailable

ROOT = Path(__file__).resolve().parents[2]
APPS = ["accounts", "api", "billing", "config", "imaging"]


def assert_retry_after(response: HttpResponse, status: int) -> int:
    assert response.status_code == status, response.content
    seconds = int(response["Retry-After"])
    assert seconds >= 1
    return seconds


# --- The rate limiter without its Redis ---------------------------------------------------------


@pytest.fixture
def frozen_redis(hanging_server: int) -> str:
    """A Redis URL whose server accepts connections and never answers (SIGSTOPped)."""
    return f"redis://127.0.0.1:{hanging_server}/0"


DOWN_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.mark.django_db
@pytest.mark.parametrize("redis", ["frozen", "down"])
def test_a_billable_request_the_limiter_cannot_count_is_a_503_with_retry_after(
    authed_client: APIClient, account: Account, frozen_redis: str, redis: str
) -> None:
    with override_settings(REDIS_URL=frozen_redis if redis == "frozen" else DOWN_REDIS):
        response = authed_client.post(
            "/v1/text-to-image", {"prompt": "panda"}, format="json", HTTP_PREFER="respond-async"
        )
    assert_retry_after(response, 503)
    assert response.json()["error"]["code"] == "TEMPORARY_UNAVAILABLE"
    assert account_billing_summary(account=account).balance == 50


@pytest.mark.django_db
def test_a_read_the_limiter_cannot_count_is_a_503_with_retry_after(
    authed_client: APIClient, frozen_redis: str
) -> None:
    with override_settings(REDIS_URL=frozen_redis):
        response = authed_client.get("/v1/account")
    assert_retry_after(response, 503)


# --- Every error class that answers 429 or 503, however it is raised ----------------------------


def _all_subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_all_subclasses(sub)}
    return found


def _retrying_error_classes() -> list[type[ApplicationError]]:
    classes = [
        cls
        for cls in {ApplicationError, *_all_subclasses(ApplicationError)}
        if cls.http_status in (429, 503)
    ]
    return sorted(classes, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def _retrying_classes_in_the_source() -> set[str]:
    """Every class our apps define on top of a 429/503 error, read from the source itself."""
    known = {"TemporaryUnavailable", "RateLimitExceeded"}
    definitions = [
        node
        for app in APPS
        for source in (ROOT / app).rglob("*.py")
        if "migrations" not in source.parts
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.ClassDef)
    ]
    while True:
        more = {
            node.name
            for node in definitions
            if any(isinstance(base, ast.Name) and base.id in known for base in node.bases)
        }
        if more <= known:
            return known
        known |= more


def test_the_walk_finds_every_retrying_error_class_the_apps_define() -> None:
    # The URLconf (imported above) imports every view, hence every service and its errors.
    loaded = {cls.__name__ for cls in _retrying_error_classes()}
    assert _retrying_classes_in_the_source() <= loaded
    assert {"TemporaryUnavailable", "RateLimitExceeded", "BillingNotConfigured"} <= loaded


@pytest.mark.parametrize(
    "headers", [None, {}, {"RateLimit": '"minute";r=0;t=3'}], ids=["none", "empty", "other"]
)
def test_every_retrying_error_carries_retry_after_whatever_headers_its_raiser_gave(
    headers: dict | None,
) -> None:
    for cls in _retrying_error_classes():
        error = cls("details", headers=headers)
        assert int(error.headers["Retry-After"]) >= 1, cls
        if headers:
            assert error.headers["RateLimit"] == headers["RateLimit"]


def test_a_raiser_that_knows_better_keeps_its_own_figure() -> None:
    assert TemporaryUnavailable(headers={"Retry-After": "30"}).headers["Retry-After"] == "30"
    headers = {"Retry-After": "7"}
    RateLimitExceeded(headers=headers).headers["X"] = "y"
    assert headers == {"Retry-After": "7"}  # the raiser's dict is not changed


@pytest.mark.django_db
def test_both_renderings_of_the_envelope_send_it() -> None:
    for cls in _retrying_error_classes():
        error = cls()
        for response in (exception_handler(error, {}), envelope_response(error)):
            assert_retry_after(response, error.http_status)


@pytest.mark.django_db
@pytest.mark.parametrize("status", [429, 503])
def test_a_drf_exception_with_a_retrying_status_gets_retry_after(status: int) -> None:
    class Busy(drf.APIException):
        status_code = status

    assert_retry_after(exception_handler(Busy(), {}), status)


# --- Outside DRF: Django's handlers under /v1, /healthz ----------------------------------------


def database_gone(request: HttpRequest) -> HttpResponse:
    raise OperationalError("connection to server was lost")


def still_unavailable(request: HttpRequest) -> HttpResponse:
    raise TemporaryUnavailable("the queue is gone")


def crashes(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom")


urlpatterns = [
    path("v1/_test/database-gone", database_gone),
    path("v1/_test/unavailable", still_unavailable),
    path("v1/_test/crash", crashes),
    path("", include(project_urlpatterns)),
]


@pytest.mark.django_db
@pytest.mark.urls(__name__)
@pytest.mark.parametrize("url", ["/v1/_test/database-gone", "/v1/_test/unavailable"])
def test_a_503_raised_outside_drf_under_v1_is_an_envelope_with_retry_after(url: str) -> None:
    response = Client(raise_request_exception=False).get(url)
    assert_retry_after(response, 503)
    assert response.json()["error"]["code"] == "TEMPORARY_UNAVAILABLE"


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_the_same_over_asgi() -> None:
    get = async_to_sync(AsyncClient(raise_request_exception=False).get)
    assert_retry_after(get("/v1/_test/database-gone"), 503)


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_an_unexpected_error_outside_drf_stays_a_500_without_retry_after() -> None:
    response = Client(raise_request_exception=False).get("/v1/_test/crash")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "PROCESSING_ERROR"
    assert "Retry-After" not in response


@pytest.fixture
def broker_down() -> Iterator[None]:
    original = celery_app.conf.broker_url
    celery_app.conf.broker_url = DOWN_REDIS
    yield
    celery_app.conf.broker_url = original


@pytest.mark.django_db
def test_healthz_answers_503_with_retry_after(client: Client, broker_down: None) -> None:
    response = client.get("/healthz")
    assert_retry_after(response, 503)
    assert response.json()["status"] == "unavailable"
