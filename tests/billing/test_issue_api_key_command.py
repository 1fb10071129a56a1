"""`manage.py issue_api_key`: creates what is missing and prints only the key on the last line."""

import pytest
from allauth.account.models import EmailAddress
from django.core.management import CommandError, call_command

from accounts.models import User
from accounts.services import api_key_authenticate, user_personal_account_ensure
from billing.selectors import account_billing_summary

pytestmark = pytest.mark.django_db


def issue(capsys: pytest.CaptureFixture, *args: str) -> str:
    call_command("issue_api_key", *args)
    out = capsys.readouterr().out
    return out.strip().splitlines()[-1]


def test_creates_a_verified_user_with_a_personal_account(capsys) -> None:
    raw = issue(capsys, "--email", "ops@example.com")
    user = User.objects.get(email="ops@example.com")
    assert EmailAddress.objects.get(user=user).verified
    key = api_key_authenticate(raw_key=raw)
    assert key.account == user_personal_account_ensure(user=user)
    assert key.name == "CLI key"


def test_reuses_an_existing_user_and_adds_a_key(capsys, user: User) -> None:
    first = issue(capsys, "--email", user.email, "--name", "ci")
    second = issue(capsys, "--email", user.email.upper())
    assert first != second
    assert (
        api_key_authenticate(raw_key=first).account == api_key_authenticate(raw_key=second).account
    )
    assert User.objects.count() == 1


def test_sets_plan_then_credits(capsys) -> None:
    raw = issue(capsys, "--email", "p@example.com", "--plan", "pro", "--credits", "850")
    summary = account_billing_summary(account=api_key_authenticate(raw_key=raw).account)
    assert (summary.plan.code, summary.balance) == ("pro", 850)


def test_stdout_is_only_the_key(capsys) -> None:
    call_command("issue_api_key", "--email", "q@example.com", "--plan", "basic")
    assert capsys.readouterr().out.strip().startswith("nk_live_")


@pytest.mark.parametrize(
    "args", [["--email", "not-an-email"], ["--email", "x@example.com", "--credits", "-1"]]
)
def test_rejects_bad_arguments(args: list[str]) -> None:
    with pytest.raises(CommandError):
        call_command("issue_api_key", *args)
    assert not User.objects.exists()
