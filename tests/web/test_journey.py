"""A new user's path through the dashboard: sign up, confirm, log in, create and revoke a key."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import ApiKey, User
from accounts.services import api_key_issue, user_personal_account_ensure

pytestmark = pytest.mark.django_db
PASSWORD = "a long passphrase 42"
KEY = re.compile(r"nk_live_[0-9A-Za-z]{43}")


def account_status(raw_key: str) -> tuple[int, dict]:
    response = APIClient().get("/v1/account", HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return response.status_code, response.json()


def sign_up_and_confirm(client: Client, email: str) -> None:
    response = client.post(
        reverse("account_signup"), {"email": email, "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session  # verification is mandatory
    (message,) = mail.outbox
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+/)", message.body).group(1)
    assert client.get(link).status_code == 200  # a confirmation form, not a GET side effect
    response = client.post(link)
    assert response.status_code == 302
    assert client.session["_auth_user_id"]


def test_new_user_journey_from_sign_up_to_revoked_key(client: Client) -> None:
    sign_up_and_confirm(client, "newcomer@example.com")
    assert client.get(reverse("profile")).status_code == 200

    response = client.post(reverse("api_key_create"), {"name": "laptop", "expires_in_days": ""})
    page = response.content.decode()
    (raw_key,) = set(KEY.findall(page))
    assert "data-copy" in page
    assert response["Cache-Control"].startswith("max-age=0")

    again = client.get(reverse("profile")).content.decode()
    assert raw_key not in again and not KEY.search(again)
    assert raw_key[:14] + "…" in again  # the masked prefix stays visible

    status, body = account_status(raw_key)
    assert status == 200 and body["email"] == "newcomer@example.com"

    key = ApiKey.objects.for_account(user_personal_account_ensure(user=User.objects.get())).get()
    response = client.post(reverse("api_key_revoke", args=[key.pk]), follow=True)
    assert "revoked" in response.content.decode()
    status, body = account_status(raw_key)
    assert status == 401 and body["error"]["code"] == "INVALID_API_KEY"


def test_an_expiring_key_shows_its_expiry(client: Client, user: User) -> None:
    client.force_login(user)
    client.post(reverse("api_key_create"), {"name": "ci", "expires_in_days": "30"})
    key = ApiKey.objects.for_account(user_personal_account_ensure(user=user)).get()
    assert key.expires_at is not None
    assert key.expires_at.strftime("%Y-%m-%d") in client.get(reverse("profile")).content.decode()


def test_a_key_needs_a_name(client: Client, user: User) -> None:
    client.force_login(user)
    response = client.post(reverse("api_key_create"), {"name": "", "expires_in_days": ""})
    assert response.status_code == 400
    assert not ApiKey.objects.for_account(user_personal_account_ensure(user=user)).exists()


def test_login_path_of_the_reference_leads_to_the_login_form(client: Client) -> None:
    response = client.get("/login?next=/profile")
    assert response.status_code == 302
    assert response["Location"] == reverse("account_login") + "?next=/profile"


def test_an_unverified_user_cannot_log_in(client: Client, user: User) -> None:
    response = client.post(
        reverse("account_login"), {"login": user.email, "password": "correct horse battery"}
    )
    assert "_auth_user_id" not in client.session
    assert response["Location"] == reverse("account_email_verification_sent")


def test_profile_requires_login(client: Client) -> None:
    response = client.get(reverse("profile"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_nobody_revokes_another_users_key(client: Client, user: User, make_user) -> None:
    other = user_personal_account_ensure(user=make_user())
    key, raw = api_key_issue(account=other, name="theirs")
    client.force_login(user)
    assert client.post(reverse("api_key_revoke", args=[key.pk])).status_code == 404
    assert account_status(raw)[0] == 200


def test_revoking_needs_a_post(client: Client, user: User) -> None:
    key, raw = api_key_issue(account=user_personal_account_ensure(user=user), name="k")
    client.force_login(user)
    assert client.get(reverse("api_key_revoke", args=[key.pk])).status_code == 405
    assert account_status(raw)[0] == 200


def test_password_reset_sends_a_link(client: Client, user: User) -> None:
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    client.post(reverse("account_reset_password"), {"email": user.email})
    assert len(mail.outbox) == 1
    assert "/accounts/password/reset/key/" in mail.outbox[0].body


def test_pages_speak_chinese_when_asked(client: Client) -> None:
    page = client.get(reverse("account_login"), HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert '<html lang="zh-hans">' in page
    assert "登录" in page  # allauth's own catalogue
    assert "价格" in page  # ours: the "Pricing" link


def test_pricing_lists_every_plan(client: Client) -> None:
    page = client.get(reverse("pricing")).content.decode()
    for plan in ("Free", "Basic", "Pro", "Max"):
        assert f"<h2>{plan}</h2>" in page
    assert "Unlimited" in page
    assert "$29" in page


def test_home_page_shows_the_operations(client: Client) -> None:
    page = client.get("/").content.decode()
    assert "/v1/remove-background" in page and "/v1/account" in page
