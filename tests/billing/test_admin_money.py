"""Staff actions on money ask for a reason, write the ledger and leave an audit trail."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Account, User
from billing.models import CreditLedgerEntry, StaffMoneyAction
from billing.selectors import account_billing_summary, plan_get

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:accounts_account_changelist"


@pytest.fixture
def staff(client: Client) -> User:
    admin = User.objects.create_superuser(email="staff@example.com", password="x")
    client.force_login(admin)
    return admin


def act(client: Client, account: Account, action: str, **fields: object):
    data = {"action": action, "_selected_action": [account.pk], **fields}
    return client.post(reverse(CHANGELIST), data)


def test_grant_asks_for_amount_and_reason_first(client: Client, staff, account: Account) -> None:
    response = act(client, account, "grant_credits")
    assert response.status_code == 200
    assert 'name="reason"' in response.content.decode()
    assert StaffMoneyAction.objects.count() == 0


def test_grant_without_a_reason_writes_nothing(client: Client, staff, account: Account) -> None:
    response = act(client, account, "grant_credits", apply="1", amount=100, reason="")
    assert response.status_code == 200
    assert account_billing_summary(account=account).balance == 50


def test_grant_writes_ledger_and_audit(client: Client, staff: User, account: Account) -> None:
    response = act(client, account, "grant_credits", apply="1", amount=100, reason="outage refund")
    assert response.status_code == 302
    assert account_billing_summary(account=account).balance == 150
    entry = CreditLedgerEntry.objects.for_account(account).filter(actor=staff).get()
    assert (entry.kind, entry.amount, entry.note) == ("grant", 100, "outage refund")
    audit = StaffMoneyAction.objects.get()
    assert (audit.actor, audit.account, audit.amount, audit.reason) == (
        staff,
        account,
        100,
        "outage refund",
    )


def test_set_plan_is_audited(client: Client, staff: User, account: Account) -> None:
    pro = plan_get(code="pro")
    act(client, account, "set_plan", apply="1", plan=pro.pk, reason="enterprise trial")
    summary = account_billing_summary(account=account)
    assert (summary.plan.code, summary.balance) == ("pro", 2000)
    assert StaffMoneyAction.objects.get().reason == "enterprise trial"


def test_subscriptions_and_audit_are_read_only(client: Client, staff, account: Account) -> None:
    subscription = account.subscription
    change = reverse("admin:billing_subscription_change", args=[subscription.pk])
    assert client.post(change, {"status": "canceled"}).status_code == 403
    assert client.get(reverse("admin:billing_staffmoneyaction_changelist")).status_code == 200
