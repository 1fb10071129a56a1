"""GET /v1/account answers with exactly the reference's fields and types."""

import re

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.models import Account, User

pytestmark = pytest.mark.django_db

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def test_shape_is_the_reference_shape(authed_client: APIClient) -> None:
    body = authed_client.get("/v1/account").json()
    assert set(body) == {"user_id", "email", "subscription", "credits", "usage_limits"}
    assert set(body["subscription"]) == {"plan", "status", "expires_at"}
    # The reference's three fields, plus `unlimited` (how the Max plan is shown).
    assert set(body["credits"]) == {"balance", "used_this_month", "last_renewed", "unlimited"}
    assert set(body["usage_limits"]) == {
        "max_images_per_request",
        "max_file_size_mb",
        "allowed_formats",
    }
    assert body["user_id"].startswith("user_")
    assert isinstance(body["credits"]["balance"], int)
    assert isinstance(body["credits"]["used_this_month"], int)
    assert isinstance(body["usage_limits"]["max_images_per_request"], int)
    assert isinstance(body["usage_limits"]["max_file_size_mb"], int)
    assert body["usage_limits"]["allowed_formats"] == ["jpeg", "png", "webp"]
    assert ISO_UTC.match(body["credits"]["last_renewed"])


def test_a_new_account_is_on_the_free_plan_with_its_allowance(
    authed_client: APIClient, user: User
) -> None:
    body = authed_client.get("/v1/account").json()
    assert body["email"] == user.email
    assert body["user_id"] == user.public_id
    assert body["subscription"] == {"plan": "free", "status": "active", "expires_at": None}
    assert body["credits"]["balance"] == 50
    assert body["credits"]["used_this_month"] == 0
    assert body["usage_limits"]["max_file_size_mb"] == 5


@pytest.mark.parametrize(
    ("plan", "max_images", "max_mb"), [("basic", 3, 5), ("pro", 5, 10), ("max", 20, 20)]
)
def test_limits_follow_the_plan(
    api_client: APIClient, capsys: pytest.CaptureFixture, plan: str, max_images: int, max_mb: int
) -> None:
    call_command("issue_api_key", "--email", f"{plan}@example.com", "--plan", plan)
    key = capsys.readouterr().out.strip().splitlines()[-1]
    body = api_client.get("/v1/account", HTTP_AUTHORIZATION=f"Bearer {key}").json()
    assert body["subscription"]["plan"] == plan
    assert body["usage_limits"]["max_images_per_request"] == max_images
    assert body["usage_limits"]["max_file_size_mb"] == max_mb
    assert body["credits"]["unlimited"] is (plan == "max")


def test_each_key_sees_only_its_own_account(
    api_client: APIClient, make_user, capsys: pytest.CaptureFixture
) -> None:
    call_command("issue_api_key", "--email", "a@example.com", "--credits", "11")
    key_a = capsys.readouterr().out.strip().splitlines()[-1]
    call_command("issue_api_key", "--email", "b@example.com", "--credits", "22")
    key_b = capsys.readouterr().out.strip().splitlines()[-1]
    body_a = api_client.get("/v1/account", HTTP_AUTHORIZATION=f"Bearer {key_a}").json()
    body_b = api_client.get("/v1/account", HTTP_AUTHORIZATION=f"Bearer {key_b}").json()
    assert (body_a["email"], body_a["credits"]["balance"]) == ("a@example.com", 11)
    assert (body_b["email"], body_b["credits"]["balance"]) == ("b@example.com", 22)
    assert Account.objects.count() == 2


def test_charges_show_as_usage(authed_client: APIClient, account: Account) -> None:
    from billing.services import credits_charge

    credits_charge(account=account, cost=5, idempotency_key="task_x")
    credits = authed_client.get("/v1/account").json()["credits"]
    assert (credits["balance"], credits["used_this_month"], credits["unlimited"]) == (45, 5, False)
