"""Tenancy of the dashboard: the owner of account B, who is also a plain member of A's team,
works in B and sees or changes nothing of A through any page or action, by URL or by id.

Each page is fetched as B and must not carry any of A's identifiers (task ids, key prefixes and
names, ledger references, member and invitation emails, webhook endpoint ids); each action is
posted with A's ids and must leave A's rows exactly as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.http import HttpResponse
from django.test import Client

from accounts.models import Account, ApiKey, Invitation, Membership, User
from accounts.services import api_key_issue, invitation_send, team_create
from billing.models import CreditLedgerEntry
from billing.services import credits_set_balance
from core.operations import Operation
from imaging.models import Task
from tests.dashboard.test_playground import png_upload
from tests.dashboard.test_task_pages import complete, submit
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import webhooks_task_finished

pytestmark = pytest.mark.django_db


@dataclass
class TenantA:
    account: Account
    key: ApiKey
    task: Task
    member: Membership  # a plain member of A: B's owner
    invitation: Invitation
    endpoint: WebhookEndpoint
    delivery: WebhookDelivery

    def secrets(self) -> list[str]:
        """What of A's must never appear on a page of B's."""
        return [
            self.task.public_id,
            self.key.prefix,
            self.key.name,
            self.invitation.email,
            self.endpoint.public_id,
            self.delivery.public_id,
            "alpha-owner@example.com",
            # Not A's name: Bob is a member of A, so the account switcher names it.
            "4321",  # A's balance
        ]

    def state(self) -> tuple:
        """A's rows as they stand; an action of B's must not change any of it."""
        self.key.refresh_from_db()
        self.task.refresh_from_db()
        self.member.refresh_from_db()
        self.endpoint.refresh_from_db()
        return (
            self.key.revoked_at,
            self.task.status,
            self.member.role,
            Invitation.objects.for_account(self.account).filter(pk=self.invitation.pk).exists(),
            self.endpoint.is_active,
            self.endpoint.secret_salt,
            WebhookEndpoint.objects.for_account(self.account).filter(pk=self.endpoint.pk).exists(),
            WebhookDelivery.objects.for_account(self.account).count(),
            Membership.objects.filter(account=self.account).count(),
            ApiKey.objects.for_account(self.account).count(),
            CreditLedgerEntry.objects.for_account(self.account).count(),
            Account.objects.get(pk=self.account.pk).credit_balance,
        )


@pytest.fixture
def tenant_a(make_user: Callable[..., User], bob: User) -> TenantA:
    owner = make_user("alpha-owner@example.com")
    account = team_create(owner=owner, name="Alpha Studio")
    credits_set_balance(account=account, balance=4321, kind="adjustment", idempotency_key="fund")
    owner_membership = Membership.objects.get(account=account, user=owner)
    member = Membership.objects.create(account=account, user=bob, role=Membership.Role.MEMBER)
    key, _raw = api_key_issue(account=account, name="alpha-prod-key")
    task = complete(submit(account, Operation.ENHANCE, api_key=key))
    endpoint = WebhookEndpoint.objects.create(account=account, url="https://1.1.1.1/hook")
    (delivery,) = webhooks_task_finished(task_id=task.pk)
    invitation = invitation_send(
        actor=owner_membership,
        email="alpha-invitee@example.com",
        role=Membership.Role.MEMBER,
        accept_url=lambda token: f"https://testserver/team/invitations/accept/{token}",
    )
    return TenantA(account, key, task, member, invitation, endpoint, delivery)


@pytest.fixture
def bob(make_user: Callable[..., User]) -> User:
    return make_user("bob@example.com")


@pytest.fixture
def b_client(bob: User, tenant_a: TenantA) -> Client:
    """Bob, signed in, working in his own (personal) account B, his task and key in it."""
    client = Client()
    client.force_login(bob)
    account_b = Membership.objects.get(user=bob, account__is_personal=True).account
    submit(account_b, Operation.ENHANCE)
    response = client.post("/account/switch", {"account": account_b.pk})
    assert response.status_code == 302
    return client


def body(response: HttpResponse) -> str:
    if response.streaming:  # the ledger CSV
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


PAGES = [
    "/dashboard",
    "/tasks",
    "/billing",
    "/billing/ledger.csv",
    "/profile",
    "/team",
    "/webhooks",
    "/playground/enhance",
]


@pytest.mark.parametrize("path", PAGES)
def test_b_sees_nothing_of_a_on_any_page(b_client: Client, tenant_a: TenantA, path: str) -> None:
    response = b_client.get(path)
    assert response.status_code == 200
    page = body(response)
    assert [secret for secret in tenant_a.secrets() if secret in page] == []


def test_the_pages_do_show_a_to_its_own_owner(tenant_a: TenantA) -> None:
    """The check above can fail: the same identifiers are on A's own pages."""
    client = Client()
    client.force_login(User.objects.get(email="alpha-owner@example.com"))
    client.post("/account/switch", {"account": tenant_a.account.pk})
    assert tenant_a.task.public_id in client.get("/tasks").content.decode()
    assert tenant_a.key.prefix in client.get("/profile").content.decode()
    assert tenant_a.invitation.email in client.get("/team").content.decode()
    assert tenant_a.endpoint.public_id in client.get("/webhooks").content.decode()


def by_id(a: TenantA) -> list[str]:
    """B's pages asked for A's objects by id: each answers as for an object that does not exist
    (404) or shows B's own (an unknown filter value)."""
    return [
        f"/tasks/{a.task.public_id}",
        f"/playground/enhance?task={a.task.public_id}",
        f"/tasks?api_key={a.key.pk}",
        f"/tasks?starting_after={a.task.public_id}",
        f"/billing?before={CreditLedgerEntry.objects.for_account(a.account).first().pk}",
    ]


def test_b_gets_none_of_as_objects_by_id(b_client: Client, tenant_a: TenantA) -> None:
    for path in by_id(tenant_a):
        response = b_client.get(path)
        assert response.status_code in {200, 302, 400, 404}, path
        page = body(response)
        # A page may echo the caller's own query back (a filter form, a pager link): no leak.
        leaked = [s for s in tenant_a.secrets() if s in page and s not in path]
        assert leaked == [], path


def test_a_task_of_a_is_a_404_for_b(b_client: Client, tenant_a: TenantA) -> None:
    assert b_client.get(f"/tasks/{tenant_a.task.public_id}").status_code == 404


def actions(a: TenantA) -> list[tuple[str, dict]]:
    """Every state-changing dashboard action, aimed at A's objects."""
    return [
        (f"/profile/keys/{a.key.pk}/revoke", {}),
        (f"/team/invitations/{a.invitation.pk}/revoke", {}),
        (f"/team/members/{a.member.pk}/role", {"role": "admin"}),
        (f"/team/members/{a.member.pk}/remove", {}),
        (f"/webhooks/endpoints/{a.endpoint.public_id}/delete", {}),
        (f"/webhooks/endpoints/{a.endpoint.public_id}/switch", {"is_active": "0"}),
        (f"/webhooks/endpoints/{a.endpoint.public_id}/rotate-secret", {}),
        (f"/webhooks/deliveries/{a.delivery.public_id}/redeliver", {}),
        # An "account" field is not how one picks the account: the task lands in B's.
        ("/playground/enhance", {"image": png_upload(), "account": a.account.pk}),
        ("/team/leave", {"account": a.account.pk}),
    ]


def test_no_action_of_b_changes_anything_of_a(b_client: Client, tenant_a: TenantA) -> None:
    before = tenant_a.state()
    for path, data in actions(tenant_a):
        response = b_client.post(path, data)
        assert response.status_code < 500, path
        assert tenant_a.state() == before, path
    account_b = Membership.objects.get(user__email="bob@example.com", account__is_personal=True)
    assert Task.objects.for_account(account_b.account).count() == 2  # the playground's went to B


def test_a_switch_to_an_account_one_is_not_a_member_of_is_refused(
    make_user: Callable[..., User], tenant_a: TenantA
) -> None:
    stranger = make_user("stranger@example.com")
    client = Client()
    client.force_login(stranger)
    client.post("/account/switch", {"account": tenant_a.account.pk})
    page = client.get("/dashboard").content.decode()
    assert "Alpha Studio" not in page and "4321" not in page


def test_switching_to_a_shows_as_and_only_as(b_client: Client, tenant_a: TenantA) -> None:
    """Bob is a member of A too: once he switches to it he sees A's history, and B's is gone."""
    own_task = Task.objects.for_account(
        Membership.objects.get(user__email="bob@example.com", account__is_personal=True).account
    ).get()
    assert own_task.public_id in b_client.get("/tasks").content.decode()
    b_client.post("/account/switch", {"account": tenant_a.account.pk})
    tasks = b_client.get("/tasks").content.decode()
    assert tenant_a.task.public_id in tasks and own_task.public_id not in tasks
    # ...and as a plain member of A he still may not manage its keys or webhooks.
    assert b_client.post(f"/profile/keys/{tenant_a.key.pk}/revoke").status_code in {403, 404}
    tenant_a.key.refresh_from_db()
    assert tenant_a.key.revoked_at is None
