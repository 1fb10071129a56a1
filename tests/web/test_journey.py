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
CONFIRMATION_LINK = re.compile(r"https?://[^/\s]+(/accounts/confirm-email/\S+/)")


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
    assert message.to == [email]
    link = CONFIRMATION_LINK.search(message.body).group(1)
    confirm_page = client.get(link)
    assert confirm_page.status_code == 200  # a confirmation form, not a GET side effect
    # The page signs the key again (HMAC with a timestamp): when the clock has ticked into the
    # next second since the e-mail, its action differs from the link in the timestamp only.
    page = confirm_page.content.decode()
    form = re.search(r'<form method="post"\s+action="(/accounts/confirm-email/[^"]+/)"', page)
    assert form is not None and form.group(1).split(":")[0] == link.split(":")[0]
    assert "_auth_user_id" not in client.session
    response = client.post(link)
    assert response.status_code == 302
    assert client.session["_auth_user_id"]


def test_new_user_journey_from_sign_up_to_revoked_key(client: Client) -> None:
    sign_up_and_confirm(client, "newcomer@example.com")
    assert client.get(reverse("profile")).status_code == 200

    response = client.post(reverse("api_key_create"), {"name": "laptop", "expires_in_days": ""})
    assert response.status_code == 200
    page = response.content.decode()
    (raw_key,) = KEY.findall(page)  # the full key, exactly once
    assert page.count(raw_key) == 1
    assert 'data-copy="#new-key"' in page
    assert "will not be shown again" in page
    assert response["Cache-Control"].startswith("max-age=0")

    again = client.get(reverse("profile")).content.decode()
    assert raw_key not in again and not KEY.search(again)
    assert raw_key[:14] + "…" in again  # the masked prefix stays visible

    status, body = account_status(raw_key)
    assert status == 200 and body["email"] == "newcomer@example.com"

    key = ApiKey.objects.for_account(user_personal_account_ensure(user=User.objects.get())).get()
    response = client.post(reverse("api_key_revoke", args=[key.pk]), follow=True)
    assert response.redirect_chain == [(reverse("profile"), 302)]
    assert "revoked" in response.content.decode()
    status, body = account_status(raw_key)
    assert status == 401 and body["error"]["code"] == "INVALID_API_KEY"


def test_the_login_path_of_the_reference_leads_to_the_login_form(client: Client) -> None:
    response = client.get("/login?next=/profile")
    assert response.status_code == 302
    assert response["Location"] == reverse("account_login") + "?next=/profile"


def test_an_unverified_user_cannot_log_in(client: Client, user: User) -> None:
    response = client.post(
        reverse("account_login"),
        {"login": user.email, "password": "correct horse battery"},
        follow=True,
    )
    assert "_auth_user_id" not in client.session
    assert response.redirect_chain[-1][0] == reverse("account_email_verification_sent")
    assert reverse("profile") not in [url for url, _status in response.redirect_chain]


def test_a_verified_user_logs_in_to_the_dashboard(client: Client, user: User) -> None:
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    response = client.post(
        reverse("account_login"), {"login": user.email, "password": "correct horse battery"}
    )
    assert response["Location"] == reverse("dashboard")


def test_the_profile_requires_login(client: Client) -> None:
    response = client.get(reverse("profile"))
    assert response.status_code == 302
    assert response["Location"] == reverse("account_login") + "?next=/profile"


def test_logging_out_is_a_post_from_the_nav(client: Client, user: User) -> None:
    client.force_login(user)
    page = client.get(reverse("profile")).content.decode()
    assert f'method="post" action="{reverse("account_logout")}"' in page
    client.post(reverse("account_logout"))
    assert "_auth_user_id" not in client.session


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
