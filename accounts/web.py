"""Which account a signed-in page works in: the one chosen in the account switcher (kept in the
session) while the user is still a member of it, else their personal account. Every dashboard
page and action starts here, so all of them are scoped to the same account."""

from __future__ import annotations

from django.http import HttpRequest

from accounts.models import Account, Membership
from accounts.selectors import membership_get
from accounts.services import membership_manage_check, user_personal_account_ensure

SESSION_ACCOUNT_KEY = "nb_account_id"


def request_membership(request: HttpRequest) -> Membership:
    cached = getattr(request, "_nb_membership", None)
    if cached is not None:
        return cached
    chosen = request.session.get(SESSION_ACCOUNT_KEY)
    membership = membership_get(user=request.user, account_id=chosen) if chosen else None
    if membership is None:
        personal = user_personal_account_ensure(user=request.user)
        membership = membership_get(user=request.user, account_id=personal.pk)
    request._nb_membership = membership  # type: ignore[attr-defined]
    return membership


def request_account(request: HttpRequest) -> Account:
    return request_membership(request).account


def request_managed_account(request: HttpRequest) -> Account:
    """The account, for pages and actions only its owners and admins may use (403 otherwise)."""
    membership = request_membership(request)
    membership_manage_check(membership=membership)
    return membership.account


def account_switch(request: HttpRequest, *, account_id: int) -> Membership | None:
    """Work in another of the user's accounts; None when they are not a member of it."""
    membership = membership_get(user=request.user, account_id=account_id)
    if membership is not None:
        request.session[SESSION_ACCOUNT_KEY] = membership.account_id
        request._nb_membership = membership  # type: ignore[attr-defined]
    return membership
