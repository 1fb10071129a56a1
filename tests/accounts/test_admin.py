"""Staff can find and manage users, accounts, memberships, keys and billing records in admin."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Account, ApiKey, User
from accounts.services import api_key_authenticate, api_key_issue

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "accounts_user",
    "accounts_account",
    "accounts_membership",
    "accounts_apikey",
    "billing_plan",
    "billing_subscription",
    "billing_creditledgerentry",
    "billing_staffmoneyaction",
]


@pytest.fixture
def staff_client(client: Client) -> Client:
    admin = User.objects.create_superuser(email="staff@example.com", password="x")
    client.force_login(admin)
    return client


@pytest.mark.parametrize("name", CHANGELISTS)
def test_changelists_load_and_search(staff_client: Client, account: Account, name: str) -> None:
    api_key_issue(account=account, name="searchable")
    url = reverse(f"admin:{name}_changelist")
    assert staff_client.get(url).status_code == 200
    assert staff_client.get(url, {"q": "alice"}).status_code == 200


def test_account_page_shows_its_members(staff_client: Client, account: Account) -> None:
    response = staff_client.get(reverse("admin:accounts_account_change", args=[account.pk]))
    assert response.status_code == 200
    assert "alice@example.com" in response.content.decode()


def test_revoke_action_revokes_selected_keys(staff_client: Client, account: Account) -> None:
    key, raw = api_key_issue(account=account, name="to revoke")
    response = staff_client.post(
        reverse("admin:accounts_apikey_changelist"),
        {"action": "revoke", "_selected_action": [key.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert ApiKey.objects.for_account(account).get(pk=key.pk).revoked_at is not None
    with pytest.raises(Exception, match="revoked"):
        api_key_authenticate(raw_key=raw)


def test_the_ledger_is_read_only(staff_client: Client, account: Account) -> None:
    assert staff_client.get(reverse("admin:billing_creditledgerentry_add")).status_code == 403


def test_non_staff_cannot_enter(client: Client, user: User) -> None:
    client.force_login(user)
    response = client.get(reverse("admin:accounts_apikey_changelist"))
    assert response.status_code == 302
