"""Staff tools in the admin: finding things, revoking keys, refunding failed tasks, and the
read-only "Inspect account" page showing what the customer sees on /dashboard."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image

from accounts.models import Account, ApiKey, User
from accounts.selectors import account_owner
from accounts.services import api_key_authenticate, api_key_issue, user_personal_account_ensure
from billing.models import CreditLedgerEntry, StaffMoneyAction
from billing.selectors import account_billing_summary, plan_get
from billing.services import credits_grant_by_staff, subscription_set_plan
from core.errors import InvalidApiKey, ProcessingError
from core.operations import Operation
from imaging.models import Task
from imaging.services import (
    ClaimResult,
    TaskInput,
    task_claim,
    task_complete,
    task_fail,
    task_submit,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(make_user: Callable[..., User]) -> User:
    admin = make_user(email="staff@example.com")
    admin.is_staff = admin.is_superuser = True
    admin.save(update_fields=["is_staff", "is_superuser"])
    return admin


@pytest.fixture
def staff_client(client: Client, staff: User) -> Client:
    client.force_login(staff)
    return client


@pytest.fixture
def other_account(make_user: Callable[..., User]) -> Account:
    return user_personal_account_ensure(user=make_user(email="bob@example.com"))


def submit(account: Account) -> Task:
    task_input = TaskInput(params={}, images=(Image.new("RGB", (8, 8)),))
    return task_submit(account=account, operation=Operation.ENHANCE, task_input=task_input)


def completed(account: Account) -> Task:
    task = submit(account)
    assert task_claim(task_id=task.pk, claim_id="msg-1") == ClaimResult.CLAIMED
    assert task_complete(
        task_id=task.pk, result_files=[], description="", seed=1, timings={}, demo=True
    )
    task.refresh_from_db()
    return task


def failed_without_refund(account: Account) -> Task:
    """A failure whose refund was never written (a crash between the two, an old bug): what the
    staff refund is for. task_fail itself always refunds."""
    task = submit(account)
    Task.unscoped_objects.filter(pk=task.pk).update(
        status=Task.Status.FAILED, error_code="PROCESSING_ERROR"
    )
    task.refresh_from_db()
    return task


def balance(account: Account) -> int:
    return account_billing_summary(account=account).balance


def text_of(html: str, element_id: str) -> str:
    """The text inside the element with `element_id`, tags stripped and spaces collapsed."""
    match = re.search(rf'<(\w+)\b[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    assert match, f"no #{element_id} on the page"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(2)).split())


# --- Lists: search, filters, no N+1 --------------------------------------------------------------


def test_account_list_searches_by_member_email_and_filters_by_plan(
    staff_client: Client, account: Account, other_account: Account
) -> None:
    subscription_set_plan(account=other_account, plan=plan_get(code="pro"))
    url = reverse("admin:accounts_account_changelist")
    found = staff_client.get(url, {"q": "alice@example.com", "is_active__exact": "1"})
    assert found.status_code == 200
    assert list(found.context["cl"].result_list) == [account]
    pro = plan_get(code="pro")
    on_pro = staff_client.get(url, {"subscription__plan__id__exact": pro.pk})
    assert list(on_pro.context["cl"].result_list) == [other_account]
    inspect = reverse("admin:accounts_account_inspect", args=[other_account.pk])
    assert inspect in on_pro.content.decode()  # the list links each account's inspect page


def test_api_key_list_filters_live_keys_and_searches_by_prefix(
    staff_client: Client, account: Account
) -> None:
    live, _raw = api_key_issue(account=account, name="live one")
    dead, _raw = api_key_issue(account=account, name="dead one")
    ApiKey.unscoped_objects.filter(pk=dead.pk).update(revoked_at="2025-01-01T00:00:00Z")
    url = reverse("admin:accounts_apikey_changelist")
    response = staff_client.get(url, {"q": live.prefix, "revoked_at__isempty": "1"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [live]
    revoked = staff_client.get(url, {"revoked_at__isempty": "0"})
    assert list(revoked.context["cl"].result_list) == [dead]


def test_task_list_filters_failed_unrefunded_tasks(
    staff_client: Client, account: Account, other_account: Account
) -> None:
    lost = failed_without_refund(account)
    refunded = submit(account)
    task_fail(task_id=refunded.pk, error=ProcessingError("boom"))
    done = completed(other_account)
    url = reverse("admin:imaging_task_changelist")
    response = staff_client.get(url, {"status__exact": "failed", "refunded": "no"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [lost]
    failed = staff_client.get(url, {"status__exact": "failed", "q": account.name})
    assert {t.pk for t in failed.context["cl"].result_list} == {lost.pk, refunded.pk}
    by_id = staff_client.get(url, {"q": done.public_id})
    assert list(by_id.context["cl"].result_list) == [done]


def test_ledger_list_filters_by_kind_and_searches_by_task(
    staff_client: Client, account: Account
) -> None:
    task = submit(account)
    submit(account)
    url = reverse("admin:billing_creditledgerentry_changelist")
    response = staff_client.get(url, {"kind__exact": "charge", "q": task.public_id})
    assert response.status_code == 200
    assert [e.pk for e in response.context["cl"].result_list] == [task.charge_id]
    grants = staff_client.get(url, {"kind__exact": "grant", "actor__isempty": "0"})
    assert list(grants.context["cl"].result_list) == []  # no staff grant yet


@pytest.mark.parametrize(
    ("changelist", "make_row"),
    [
        ("admin:accounts_account_changelist", lambda n, account: None),
        ("admin:accounts_apikey_changelist",
         lambda n, account: api_key_issue(account=account, name=f"k{n}")),
        ("admin:imaging_task_changelist", lambda n, account: submit(account)),
        ("admin:billing_creditledgerentry_changelist", lambda n, account: submit(account)),
        ("admin:billing_staffmoneyaction_changelist", lambda n, account: credits_grant_by_staff(
            account=account, amount=1, reason=f"r{n}", actor=account_owner(account=account))),
    ],
)  # fmt: skip
def test_list_pages_cost_the_same_queries_however_many_rows(
    staff_client: Client,
    make_user: Callable[..., User],
    changelist: str,
    make_row: Callable[[int, Account], object],
) -> None:
    def accounts_with_rows(start: int, count: int) -> None:
        for n in range(start, start + count):
            account = user_personal_account_ensure(user=make_user(email=f"n{n}@example.com"))
            make_row(n, account)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get(reverse(changelist)).status_code == 200
        return len(captured)

    accounts_with_rows(0, 2)
    few = queries()
    accounts_with_rows(2, 6)
    assert queries() == few


# --- Revoking a key -----------------------------------------------------------------------------


def test_revoke_action_revokes_through_the_service_and_logs_it(
    staff_client: Client, staff: User, account: Account
) -> None:
    key, raw = api_key_issue(account=account, name="leaked")
    kept, kept_raw = api_key_issue(account=account, name="kept")
    api_key_authenticate(raw_key=raw)  # works before
    response = staff_client.post(
        reverse("admin:accounts_apikey_changelist"),
        {"action": "revoke", "_selected_action": [key.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "1 key(s) revoked." in response.content.decode()
    with pytest.raises(InvalidApiKey, match="revoked"):
        api_key_authenticate(raw_key=raw)
    assert api_key_authenticate(raw_key=kept_raw) == kept
    entry = LogEntry.objects.get(object_id=str(key.pk))
    assert (entry.user_id, entry.action_flag) == (staff.pk, CHANGE)
    assert "Revoked at" in entry.get_change_message()
    assert StaffMoneyAction.objects.count() == 0  # revoking is no money action


def test_revoking_an_already_revoked_key_logs_nothing_new(
    staff_client: Client, account: Account
) -> None:
    key, _raw = api_key_issue(account=account, name="leaked")
    for _ in range(2):
        staff_client.post(
            reverse("admin:accounts_apikey_changelist"),
            {"action": "revoke", "_selected_action": [key.pk]},
        )
    assert LogEntry.objects.filter(object_id=str(key.pk)).count() == 1


# --- Refunding a failed task --------------------------------------------------------------------


def refund(client: Client, tasks: list[Task], **fields: object):
    data = {"action": "refund_failed", "_selected_action": [t.pk for t in tasks], **fields}
    return client.post(reverse("admin:imaging_task_changelist"), data, follow=True)


def test_refund_asks_for_a_reason_first(staff_client: Client, account: Account) -> None:
    task = failed_without_refund(account)
    before = balance(account)
    response = refund(staff_client, [task])
    assert response.status_code == 200
    assert 'name="reason"' in response.content.decode()
    assert task.public_id in response.content.decode()
    assert balance(account) == before
    assert refund(staff_client, [task], apply="1", reason="").status_code == 200
    assert balance(account) == before
    assert StaffMoneyAction.objects.count() == 0


def test_refund_gives_a_failed_tasks_credits_back_exactly_once(
    staff_client: Client, staff: User, account: Account
) -> None:
    task = failed_without_refund(account)
    before = balance(account)
    first = refund(staff_client, [task], apply="1", reason="worker crashed mid-refund")
    assert "1 failed task(s) refunded." in first.content.decode()
    assert balance(account) == before + task.credits
    second = refund(staff_client, [task], apply="1", reason="clicked twice")
    assert "refunded already" in second.content.decode()
    assert balance(account) == before + task.credits
    refunds = CreditLedgerEntry.objects.for_account(account).filter(kind="refund")
    assert [(r.amount, r.reference) for r in refunds] == [(task.credits, task.public_id)]
    audit = StaffMoneyAction.objects.get()
    assert (audit.actor, audit.account, audit.amount, audit.reason) == (
        staff,
        account,
        task.credits,
        "worker crashed mid-refund",
    )
    assert task.public_id in audit.action


def test_refund_leaves_completed_and_already_refunded_tasks_alone(
    staff_client: Client, account: Account
) -> None:
    done = completed(account)
    refunded = submit(account)
    task_fail(task_id=refunded.pk, error=ProcessingError("boom"))  # refunds by itself
    before = balance(account)
    response = refund(staff_client, [done, refunded], apply="1", reason="customer asked")
    page = response.content.decode()
    assert "1 task(s) have not failed" in page
    assert "1 task(s) had been refunded already" in page
    assert balance(account) == before
    assert StaffMoneyAction.objects.count() == 0
    assert CreditLedgerEntry.objects.for_account(account).filter(kind="refund").count() == 1


def test_refund_is_refused_to_staff_who_may_only_view_tasks(
    client: Client, make_user: Callable[..., User], account: Account
) -> None:
    viewer = make_user(email="viewer@example.com")
    viewer.is_staff = True
    viewer.save(update_fields=["is_staff"])
    viewer.user_permissions.add(Permission.objects.get(codename="view_task"))
    client.force_login(viewer)
    task = failed_without_refund(account)
    before = balance(account)
    refund(client, [task], apply="1", reason="not mine to do")
    assert balance(account) == before
    assert StaffMoneyAction.objects.count() == 0


# --- Inspect account ----------------------------------------------------------------------------


@pytest.fixture
def two_tenants(account: Account, other_account: Account) -> tuple[Task, Task]:
    subscription_set_plan(account=account, plan=plan_get(code="pro"))
    credits_grant_by_staff(
        account=account, amount=2345, reason="test", actor=account_owner(account=account)
    )
    ours, theirs = completed(account), completed(other_account)
    credits_grant_by_staff(
        account=other_account,
        amount=7000,
        reason="test",
        actor=account_owner(account=other_account),
    )
    return ours, theirs


def inspect_url(account: Account) -> str:
    return reverse("admin:accounts_account_inspect", args=[account.pk])


def test_inspect_shows_that_account_and_nothing_of_another(
    staff_client: Client, account: Account, other_account: Account, two_tenants: tuple[Task, Task]
) -> None:
    ours, theirs = two_tenants
    response = staff_client.get(inspect_url(account))
    assert response.status_code == 200
    page = response.content.decode()
    expected = balance(account)
    assert expected == 2000 + 2345 - ours.credits
    assert text_of(page, "balance") == f"{expected:,}"
    assert text_of(page, "plan").startswith("Pro ")
    assert ours.public_id in text_of(page, "recent-tasks")
    assert "alice@example.com" in text_of(page, "member-list")
    assert text_of(page, "requests-day") == "0 of 1000"
    assert f"{balance(other_account):,}" not in page
    assert theirs.public_id not in page
    assert "bob@example.com" not in page
    theirs_page = staff_client.get(inspect_url(other_account)).content.decode()
    assert text_of(theirs_page, "plan").startswith("Free ")
    assert ours.public_id not in theirs_page and theirs.public_id in theirs_page


def test_inspect_uses_the_dashboards_usage_figures(
    staff_client: Client, account: Account, two_tenants: tuple[Task, Task]
) -> None:
    ours, _theirs = two_tenants
    page = staff_client.get(inspect_url(account)).content.decode()
    usage = text_of(page, "usage-table")
    assert f"Enhance 1 {ours.credits}" in usage  # one task, its credits, under its operation
    assert 'id="usage-chart"' in page and "<rect" in page


def test_inspect_still_renders_when_request_counts_are_unavailable(
    staff_client: Client, account: Account
) -> None:
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):  # nothing listens on port 1
        response = staff_client.get(inspect_url(account))
    assert response.status_code == 200
    assert "unavailable right now" in text_of(response.content.decode(), "requests-day")


def test_inspect_changes_nothing(staff_client: Client, account: Account) -> None:
    submit(account)
    before = (balance(account), CreditLedgerEntry.objects.for_account(account).count())
    assert staff_client.post(inspect_url(account)).status_code == 405
    staff_client.get(inspect_url(account))
    assert (balance(account), CreditLedgerEntry.objects.for_account(account).count()) == before


def test_inspect_is_linked_from_the_account_change_page(
    staff_client: Client, account: Account
) -> None:
    change = staff_client.get(reverse("admin:accounts_account_change", args=[account.pk]))
    assert inspect_url(account) in change.content.decode()


def test_non_staff_are_sent_to_the_admin_login(
    client: Client, user: User, account: Account
) -> None:
    client.force_login(user)  # alice, a member (the owner) of the account, but not staff
    response = client.get(inspect_url(account))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_staff_without_permissions_are_refused(
    client: Client, make_user: Callable[..., User], account: Account
) -> None:
    clerk = make_user(email="clerk@example.com")
    clerk.is_staff = True
    clerk.save(update_fields=["is_staff"])
    client.force_login(clerk)
    assert client.get(inspect_url(account)).status_code == 403


def test_staff_who_may_view_accounts_may_inspect(
    client: Client, make_user: Callable[..., User], account: Account
) -> None:
    support = make_user(email="support@example.com")
    support.is_staff = True
    support.save(update_fields=["is_staff"])
    support.user_permissions.add(Permission.objects.get(codename="view_account"))
    client.force_login(support)
    response = client.get(inspect_url(account))
    assert response.status_code == 200
    assert "alice@example.com" in text_of(response.content.decode(), "member-list")


def test_inspecting_a_missing_account_redirects_to_the_admin(staff_client: Client) -> None:
    response = staff_client.get(reverse("admin:accounts_account_inspect", args=[999_999]))
    assert response.status_code == 302
