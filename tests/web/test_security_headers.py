"""The pages' security headers: a Content-Security-Policy without inline script, and HSTS and
secure cookies in production, which `manage.py check --deploy` verifies."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client
from django.urls import reverse

from accounts.models import User
from core.checks import (
    content_security_policy_check,
    middleware_settings_check,
    required_middleware_check,
)
from tests.conftest import process_env

ROOT = Path(__file__).resolve().parents[2]

# An executable <script>: one without src and not a data block (type="application/json").
INLINE_SCRIPT = re.compile(
    r"<script\b(?![^>]*\bsrc\s*=)(?![^>]*\btype\s*=\s*[\"']application/(?:ld\+)?json)[^>]*>",
    re.IGNORECASE,
)
EVENT_HANDLER = re.compile(r"<[^>]+\s(on[a-z]+)\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|<[^>]+\sstyle\s*=", re.IGNORECASE)
NONCE_ATTRIBUTE = 'nonce="{{ request.csp_nonce }}"'


def directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    parsed = {}
    for directive in header.split(";"):
        name, *sources = directive.split()
        parsed[name] = sources
    return parsed


@pytest.fixture
def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


# --- The policy on the pages --------------------------------------------------------------------

SIGNED_IN_PAGES = [
    "home",
    "pricing",
    "profile",
    "billing",
    "webhooks",
    "docs",
    "mfa_index",
    "account_change_password",
    "account_email",
]
ANONYMOUS_PAGES = ["account_login", "account_signup", "account_reset_password"]
DASHBOARD_PAGES = SIGNED_IN_PAGES + ANONYMOUS_PAGES


@pytest.fixture
def get_page(client: Client, user: User):
    def get(name: str):
        if name in SIGNED_IN_PAGES:
            client.force_login(user)
        response = client.get(reverse(name))
        assert response.status_code == 200
        return response

    return get


@pytest.mark.django_db
@pytest.mark.parametrize("name", DASHBOARD_PAGES)
def test_every_dashboard_page_forbids_inline_and_foreign_script(get_page, name: str) -> None:
    policy = directives(get_page(name))
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no nonce, no other host
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["default-src"] == ["'self'"]


@pytest.mark.django_db
@pytest.mark.parametrize("name", DASHBOARD_PAGES)
def test_the_rendered_pages_carry_no_inline_script_handler_or_style(get_page, name: str) -> None:
    # Includes what third-party templates (allauth, django-htmx) add to our pages.
    html = get_page(name).content.decode()
    assert not INLINE_SCRIPT.search(html), INLINE_SCRIPT.search(html)
    assert not EVENT_HANDLER.search(html), EVENT_HANDLER.search(html)
    assert not INLINE_STYLE.search(html), INLINE_STYLE.search(html)


@pytest.mark.django_db
def test_the_stripe_redirects_of_the_billing_forms_stay_allowed(signed_in: Client) -> None:
    form_action = directives(signed_in.get(reverse("billing")))["form-action"]
    assert form_action == ["'self'", "https://checkout.stripe.com", "https://billing.stripe.com"]


@pytest.mark.django_db
def test_swagger_ui_runs_its_setup_script_by_nonce_only(client: Client) -> None:
    response = client.get(reverse("docs_swagger"))
    assert response.status_code == 200
    policy = directives(response)
    [nonce_source] = [s for s in policy["script-src"] if s.startswith("'nonce-")]
    nonce = nonce_source.removeprefix("'nonce-").removesuffix("'")
    assert len(nonce) >= 22  # 128+ random bits
    assert "'unsafe-inline'" not in policy["script-src"]
    html = response.content.decode()
    inline = INLINE_SCRIPT.findall(html)
    assert inline == [f'<script nonce="{nonce}">']
    assert "SwaggerUIBundle(" in html
    assert not INLINE_STYLE.search(html)


@pytest.mark.django_db
def test_a_fresh_nonce_per_response(client: Client) -> None:
    first, second = (
        directives(client.get(reverse("docs_swagger")))["script-src"] for _ in range(2)
    )
    assert first != second


@pytest.mark.django_db
def test_redoc_starts_from_a_static_script_with_its_worker_allowed(client: Client) -> None:
    response = client.get(reverse("redoc"))
    assert response.status_code == 200
    policy = directives(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["worker-src"] == ["'self'", "blob:"]
    assert "'unsafe-inline'" in policy["style-src"]  # Redoc injects its styles
    html = response.content.decode()
    assert not INLINE_SCRIPT.search(html)
    assert '/static/docs/redoc.js"' in html
    container = re.search(r'<div id="redoc-container"[^>]*>', html).group(0)
    assert 'data-schema-url="/v1/openapi.json"' in container
    assert "expandResponses" in container


@pytest.mark.django_db
def test_the_admin_keeps_its_inline_styles_but_not_inline_script(client: Client) -> None:
    response = client.get("/admin/login/")
    assert response.status_code == 200
    policy = directives(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]


@pytest.mark.django_db
def test_the_api_answers_without_a_page_policy() -> None:
    assert "Content-Security-Policy" not in Client().get("/v1/account")


@pytest.mark.django_db
def test_the_policy_is_set_over_asgi_too() -> None:
    response = async_to_sync(AsyncClient().get)("/pricing")
    assert directives(response)["script-src"] == ["'self'"]


# --- The templates ------------------------------------------------------------------------------

TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))


def test_the_scan_sees_the_templates() -> None:
    assert len(TEMPLATES) > 10


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: str(t.relative_to(ROOT)))
def test_no_template_has_inline_script_event_handlers_or_styles(template: Path) -> None:
    source = template.read_text()
    assert not EVENT_HANDLER.search(source), EVENT_HANDLER.search(source)
    assert not INLINE_STYLE.search(source), INLINE_STYLE.search(source)
    for tag in INLINE_SCRIPT.findall(source):
        # The one exception: Swagger UI's setup is rendered per request, so it goes by nonce.
        assert template.relative_to(ROOT) == Path("templates/drf_spectacular/swagger_ui.html")
        assert NONCE_ATTRIBUTE in tag


# --- Production settings and the deploy checks --------------------------------------------------

PRODUCTION_ENV = process_env(
    DJANGO_SETTINGS_MODULE="config.settings.production",
    DJANGO_SECRET_KEY="x" * 60 + "production-like-secret-for-the-checks",
)


def test_production_settings_set_hsts_secure_cookies_and_https() -> None:
    names = [
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_CONTENT_TYPE_NOSNIFF",
        "CONTENT_SECURITY_POLICY",
    ]
    script = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{name: getattr(settings, name) for name in {names!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=PRODUCTION_ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    values = json.loads(result.stdout.splitlines()[-1])
    assert values["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_CONTENT_TYPE_NOSNIFF"] is True
    assert "upgrade-insecure-requests" in values["CONTENT_SECURITY_POLICY"]


def test_the_deploy_check_passes_on_production_settings() -> None:
    """What `make lint` runs."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=PRODUCTION_ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_deploy_check_sees_hsts_and_cookies_through_our_subclasses(settings) -> None:
    # Django's own checks look for the dotted paths of its middleware and would pass unseen.
    settings.SECURE_HSTS_SECONDS = 0
    settings.CSRF_COOKIE_SECURE = False
    settings.SECURE_SSL_REDIRECT = False
    found = {message.id for message in middleware_settings_check(None)}
    assert {"security.W004", "security.W008", "security.W016"} <= found


def test_the_deploy_check_is_quiet_on_good_settings(settings) -> None:
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_CONTENT_TYPE_NOSNIFF = True
    settings.CSRF_COOKIE_SECURE = True
    assert middleware_settings_check(None) == []
    assert content_security_policy_check(None) == []


def test_the_deploy_check_misses_the_policy_middleware(settings) -> None:
    settings.MIDDLEWARE = [path for path in settings.MIDDLEWARE if "ContentSecurity" not in path]
    assert {w.id for w in required_middleware_check(None)} == {"nanobanana.W004"}


@pytest.mark.parametrize("source", ["'unsafe-inline'", "'unsafe-eval'", "https:", "*"])
def test_the_deploy_check_refuses_a_policy_that_lets_injected_script_run(
    settings, source: str
) -> None:
    settings.CONTENT_SECURITY_POLICY = {
        **settings.CONTENT_SECURITY_POLICY,
        "script-src": ["'self'", source],
    }
    assert [w.id for w in content_security_policy_check(None)] == ["nanobanana.W005"]


def test_the_deploy_check_looks_at_the_per_path_additions_too(settings) -> None:
    settings.CONTENT_SECURITY_POLICY_EXTRA = {"/docs/": {"script-src": ["'unsafe-inline'"]}}
    assert [w.id for w in content_security_policy_check(None)] == ["nanobanana.W005"]
