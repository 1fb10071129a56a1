"""/team: an owner invites a colleague by email, the colleague accepts the link and works in the
shared account; roles decide who manages what (enforced in accounts.services), and every page
follows the account chosen in the switcher."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, Invitation, Membership, User
from accounts.services import team_create, user_personal_account_ensure
from accounts.web import SESSION_ACCOUNT_KEY

pytestmark = pytest.mark.django_db

LINK = re.compile(r"http://testserver(/team/invitations/accept/\S+)")


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def invite(client: Client, email: str, role: str = "member") -> str:
    """The invitation link the email carried."""
    mail.outbox.clear()
    response = client.post(reverse("invitation_create"), {"email": email, "role": role})
    assert response.status_code == 302, response.content.decode()
    (message,) = mail.outbox
    assert message.to == [email]
    return LINK.search(message.body).group(1)


@pytest.fixture
def owner(make_user: Callable[..., User]) -> User:
    return make_user(email="owner@example.com")


@pytest.fixture
def team(owner: User) -> Account:
    return team_create(owner=owner, name="Design team")


@pytest.fixture
def owner_client(owner: User, team: Account) -> Client:
    client = login(owner)
    session = client.session
    session[SESSION_ACCOUNT_KEY] = team.pk
    session.save()
    return client


def join(make_user: Callable[..., User], owner_client: Client, email: str, role: str) -> Client:
    colleague = make_user(email=email)
    link = invite(owner_client, email, role)
    client = login(colleague)
    assert client.post(link).status_code == 302
    return client


def test_an_invited_colleague_accepts_and_works_in_the_shared_account(
    owner_client: Client, team: Account, make_user: Callable[..., User]
) -> None:
    link = invite(owner_client, "bob@example.com")
    bob = make_user(email="bob@example.com")
    anonymous = Client().get(link)
    assert anonymous.status_code == 302 and reverse("account_login") in anonymous["Location"]
    client = login(bob)
    shown = client.get(link)
    assert shown.status_code == 200 and "Design team" in shown.content.decode()
    accepted = client.post(link)
    assert accepted["Location"] == reverse("dashboard")
    membership = Membership.objects.get(account=team, user=bob)
    assert membership.role == "member"
    # The switcher now offers both accounts, and the session works in the team.
    page = client.get(reverse("team")).content.decode()
    assert 'id="account-switcher"' in page and "Design team" in page
    assert "bob@example.com" in page and "owner@example.com" in page
    assert client.post(link).status_code == 404  # used


def test_an_invitation_is_for_its_email_only_and_expires(
    owner_client: Client, team: Account, make_user: Callable[..., User]
) -> None:
    link = invite(owner_client, "bob@example.com")
    eve = make_user(email="eve@example.com")
    assert login(eve).post(link).status_code == 403
    assert not Membership.objects.filter(account=team, user=eve).exists()
    Invitation.objects.for_account(team).update(expires_at=timezone.now() - timedelta(seconds=1))
    bob = make_user(email="bob@example.com")
    assert login(bob).post(link).status_code == 404
    assert login(bob).get("/team/invitations/accept/not-a-token").status_code == 404


def test_a_member_uses_the_account_but_gets_403_for_what_only_managers_do(
    owner_client: Client, make_user: Callable[..., User]
) -> None:
    member = join(make_user, owner_client, "bob@example.com", "member")
    assert member.get(reverse("dashboard")).status_code == 200
    assert member.get(reverse("profile")).status_code == 200
    assert 'id="keys-managed-by-admins"' in member.get(reverse("profile")).content.decode()
    for url in (reverse("webhooks"), reverse("billing")):
        assert member.get(url).status_code == 403, url
    assert member.post(reverse("api_key_create"), {"name": "x"}).status_code == 403
    invitation = {"email": "c@example.com", "role": "member"}
    assert member.post(reverse("invitation_create"), invitation).status_code == 403
    assert all("c@example.com" not in message.to for message in mail.outbox)


def test_admins_manage_members_but_only_owners_make_or_unmake_owners(
    owner_client: Client, team: Account, make_user: Callable[..., User]
) -> None:
    admin = join(make_user, owner_client, "ada@example.com", "admin")
    join(make_user, owner_client, "bob@example.com", "member")
    bob = Membership.objects.get(account=team, user__email="bob@example.com")
    owner = Membership.objects.get(account=team, user__email="owner@example.com")
    assert admin.post(reverse("member_role", args=[bob.pk]), {"role": "owner"}).status_code == 403
    assert admin.post(reverse("member_remove", args=[owner.pk])).status_code == 403
    assert admin.post(reverse("member_role", args=[bob.pk]), {"role": "admin"}).status_code == 302
    bob.refresh_from_db()
    assert bob.role == "admin"
    assert admin.post(reverse("member_remove", args=[bob.pk])).status_code == 302
    assert not Membership.objects.filter(pk=bob.pk).exists()
    # Bob's session still names the team: it falls back to his personal account.
    bob_client = login(User.objects.get(email="bob@example.com"))
    session = bob_client.session
    session[SESSION_ACCOUNT_KEY] = team.pk
    session.save()
    assert "Design team" not in bob_client.get(reverse("team")).content.decode()


def test_the_last_owner_stays_and_nobody_leaves_their_personal_account(
    owner_client: Client, owner: User, team: Account
) -> None:
    response = owner_client.post(reverse("team_leave"), follow=True)
    assert "needs an owner" in response.content.decode()
    assert Membership.objects.filter(account=team, user=owner).exists()
    personal = user_personal_account_ensure(user=owner)
    personal_client = login(owner)
    personal_client.post(reverse("account_switch"), {"account": personal.pk})
    response = personal_client.post(reverse("team_leave"), follow=True)
    assert Membership.objects.filter(account=personal, user=owner).exists()
    assert "personal account" in response.content.decode()


def test_switching_scopes_every_page_to_the_chosen_account(
    owner_client: Client, owner: User, team: Account, make_user: Callable[..., User]
) -> None:
    outsider = user_personal_account_ensure(user=make_user(email="x@example.com"))
    denied = owner_client.post(reverse("account_switch"), {"account": outsider.pk}, follow=True)
    assert "not a member" in denied.content.decode()
    assert owner_client.session[SESSION_ACCOUNT_KEY] == team.pk  # unchanged
    personal = user_personal_account_ensure(user=owner)
    owner_client.post(
        reverse("account_switch"), {"account": personal.pk, "next": "https://evil.example/"}
    )
    assert owner_client.session[SESSION_ACCOUNT_KEY] == personal.pk
    assert (
        "Design team" not in owner_client.get(reverse("team")).content.decode().split("</nav>")[1]
    )
