"""What the dashboard pages show: profile, pricing, home, allauth pages, language."""

import re
from datetime import timedelta

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiKey, User
from accounts.services import api_key_issue, api_key_revoke, user_personal_account_ensure

pytestmark = pytest.mark.django_db


def page(client: Client, url: str, **headers: str) -> str:
    response = client.get(url, **headers)
    assert response.status_code == 200
    return response.content.decode()


def row(html: str, key: ApiKey) -> str:
    return re.search(rf'<tr id="key-{key.pk}">.*?</tr>', html, re.S).group(0)


@pytest.fixture
def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


# --- Profile ----------------------------------------------------------------------------------


def test_the_profile_shows_the_account_plan_and_balance(signed_in: Client, user: User) -> None:
    html = page(signed_in, reverse("profile"))
    assert user.email in html
    assert "Free" in html
    assert 'id="credit-balance">50<' in html
    assert "0 used this period" in html
    assert f'href="{reverse("pricing")}"' in html


def test_the_profile_links_to_password_change_and_two_factor_setup(signed_in: Client) -> None:
    html = page(signed_in, reverse("profile"))
    assert f'href="{reverse("account_change_password")}"' in html
    assert f'href="{reverse("mfa_index")}"' in html


def test_the_profile_explains_how_to_call_the_api_with_a_key(signed_in: Client) -> None:
    html = page(signed_in, reverse("profile"))
    assert 'curl -H "Authorization: Bearer nk_live_…"' in html
    assert "http://testserver/v1/account" in html


def test_the_plain_profile_shows_no_new_key_box(signed_in: Client, account) -> None:
    api_key_issue(account=account, name="ci")
    html = page(signed_in, reverse("profile"))
    assert 'id="new-key"' not in html
    assert not re.search(r"nk_live_[0-9A-Za-z]{43}", html)


def test_an_active_key_has_a_revoke_button_with_a_confirmation(signed_in: Client, account) -> None:
    key, _raw = api_key_issue(account=account, name="ci")
    tr = row(page(signed_in, reverse("profile")), key)
    assert "active" in tr
    assert f'action="{reverse("api_key_revoke", args=[key.pk])}"' in tr
    assert "data-confirm=" in tr


def test_a_revoked_key_is_marked_and_cannot_be_revoked_again(signed_in: Client, account) -> None:
    key, _raw = api_key_issue(account=account, name="old")
    api_key_revoke(account=account, key_id=key.pk)
    tr = row(page(signed_in, reverse("profile")), key)
    assert "revoked" in tr
    assert "<form" not in tr


def test_an_expired_key_is_marked_expired(signed_in: Client, account) -> None:
    key, _raw = api_key_issue(
        account=account, name="old", expires_at=timezone.now() - timedelta(days=1)
    )
    tr = row(page(signed_in, reverse("profile")), key)
    assert "expired" in tr
    assert "<form" not in tr


def test_a_never_used_key_says_never(signed_in: Client, account) -> None:
    key, _raw = api_key_issue(account=account, name="fresh")
    tr = row(page(signed_in, reverse("profile")), key)
    assert "never" in tr
    assert key.masked in tr


def test_an_expiring_key_shows_its_expiry_date(signed_in: Client, user: User) -> None:
    signed_in.post(reverse("api_key_create"), {"name": "ci", "expires_in_days": "30"})
    key = ApiKey.objects.for_account(user_personal_account_ensure(user=user)).get()
    assert key.expires_at is not None
    assert key.expires_at.strftime("%Y-%m-%d") in row(page(signed_in, reverse("profile")), key)


def test_a_key_needs_a_name(signed_in: Client, user: User) -> None:
    response = signed_in.post(reverse("api_key_create"), {"name": "", "expires_in_days": ""})
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.content.decode()
    assert not ApiKey.objects.for_account(user_personal_account_ensure(user=user)).exists()


# --- Pricing ----------------------------------------------------------------------------------


def test_pricing_lists_every_plan(client: Client) -> None:
    html = page(client, reverse("pricing"))
    for code, name in (("free", "Free"), ("basic", "Basic"), ("pro", "Pro"), ("max", "Max")):
        assert f'id="plan-{code}"' in html
        assert f"<h2>{name}</h2>" in html


def test_pricing_shows_unlimited_credits_for_max(client: Client) -> None:
    html = page(client, reverse("pricing"))
    max_card = re.search(r'id="plan-max".*?</article>', html, re.S).group(0)
    assert "Unlimited" in max_card


def test_pricing_shows_the_credit_cost_of_each_operation(client: Client) -> None:
    html = page(client, reverse("pricing"))
    for operation, credits in (
        ("Image edit", "5"),
        ("Background removal", "3"),
        ("Text to image", "8"),
        ("Enhance", "4"),
        ("Style transfer", "6"),
    ):
        assert f"<tr><td>{operation}</td><td>{credits}</td></tr>" in html
    assert "5 per image" in html


def test_pricing_invites_visitors_to_sign_up(client: Client) -> None:
    assert f'href="{reverse("account_signup")}"' in page(client, reverse("pricing"))


# --- Home and layout --------------------------------------------------------------------------


def test_the_home_page_shows_every_operation_and_a_curl_example(client: Client) -> None:
    html = page(client, "/")
    for endpoint in (
        "image-edit",
        "remove-background",
        "text-to-image",
        "style-transfer",
        "enhance",
        "batch-edit",
    ):
        assert f"POST /v1/{endpoint}" in html
    assert "/v1/account" in html


def test_visitors_see_log_in_and_sign_up_links(client: Client) -> None:
    html = page(client, "/")
    assert f'href="{reverse("account_login")}"' in html
    assert f'href="{reverse("account_signup")}"' in html
    assert reverse("account_logout") not in html


def test_the_layout_links_its_stylesheet_and_scripts(client: Client) -> None:
    html = page(client, "/")
    for asset in ("css/app.css", "js/app.js", "js/copy.js"):
        assert f"/static/{asset}" in html
        assert finders.find(asset), asset


def test_allauth_pages_use_our_layout(client: Client) -> None:
    for name in ("account_login", "account_signup", "account_reset_password"):
        html = page(client, reverse(name))
        assert "/static/css/app.css" in html
        assert 'class="card narrow entrance"' in html


def test_allauth_settings_pages_use_our_settings_navigation(signed_in: Client) -> None:
    for name in ("account_email", "account_change_password", "mfa_index"):
        html = page(signed_in, reverse(name))
        assert 'aria-current="page"' in html
        assert f'href="{reverse("profile")}"' in html


def test_pages_speak_chinese_when_the_browser_asks(client: Client) -> None:
    html = page(client, reverse("account_login"), HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert '<html lang="zh-hans">' in html
    assert "登录" in html  # allauth's own zh-hans catalogue: "Sign In"


def test_pages_speak_english_by_default(client: Client) -> None:
    html = page(client, reverse("account_login"))
    assert '<html lang="en">' in html
    assert "Sign In" in html
