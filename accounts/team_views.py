"""/team: the account's members and invitations, the account switcher, and accepting an
invitation link. Rules live in accounts.services; these views only call them."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.forms import InvitationForm, RoleForm, TeamCreateForm
from accounts.models import Invitation, Membership
from accounts.selectors import account_members, membership_can_manage
from accounts.services import (
    invitation_accept,
    invitation_open_get,
    invitation_revoke,
    invitation_send,
    membership_leave,
    membership_remove,
    membership_role_set,
    team_create,
)
from accounts.web import SESSION_ACCOUNT_KEY, account_switch, request_membership
from core.errors import ApplicationError


def _render_team(request: HttpRequest, *, invite_form: InvitationForm | None = None,
                 status: int = 200) -> HttpResponse:  # fmt: skip
    membership = request_membership(request)
    account = membership.account
    context = {
        "membership": membership,
        "can_manage": membership_can_manage(membership=membership),
        "members": account_members(account=account),
        "invitations": Invitation.objects.for_account(account).filter(accepted_at__isnull=True),
        "invite_form": invite_form or InvitationForm(actor=membership),
        "team_form": TeamCreateForm(),
        "roles": Membership.Role.choices,
    }
    return render(request, "accounts/team.html", context, status=status)


@never_cache
@login_required
def team(request: HttpRequest) -> HttpResponse:
    return _render_team(request)


def _accept_url(request: HttpRequest) -> Callable[[str], str]:
    return lambda token: request.build_absolute_uri(reverse("invitation_accept", args=[token]))


@never_cache
@login_required
@require_POST
def invitation_create(request: HttpRequest) -> HttpResponse:
    membership = request_membership(request)
    form = InvitationForm(request.POST, actor=membership)
    if not form.is_valid():
        return _render_team(request, invite_form=form, status=400)
    try:
        invitation = invitation_send(
            actor=membership,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            accept_url=_accept_url(request),
        )
    except ApplicationError as error:
        form.add_error("email", str(error))
        return _render_team(request, invite_form=form, status=400)
    messages.success(request, _("Invitation sent to %(email)s.") % {"email": invitation.email})
    return redirect("team")


@login_required
@require_POST
def invitation_revoke_view(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation_revoke(actor=request_membership(request), invitation_id=invitation_id)
    messages.success(request, _("Invitation withdrawn."))
    return redirect("team")


@login_required
@require_POST
def member_role_view(request: HttpRequest, member_id: int) -> HttpResponse:
    form = RoleForm(request.POST)
    if form.is_valid():
        _apply(request, lambda actor: membership_role_set(
            actor=actor, member_id=member_id, role=form.cleaned_data["role"]))  # fmt: skip
    return redirect("team")


@login_required
@require_POST
def member_remove_view(request: HttpRequest, member_id: int) -> HttpResponse:
    _apply(request, lambda actor: membership_remove(actor=actor, member_id=member_id))
    return redirect("team")


@login_required
@require_POST
def team_leave_view(request: HttpRequest) -> HttpResponse:
    membership = request_membership(request)
    if _apply(request, lambda actor: membership_leave(membership=actor)):
        messages.success(request, _("You left %(account)s.") % {"account": membership.account})
        request.session.pop(SESSION_ACCOUNT_KEY, None)
        return redirect("dashboard")
    return redirect("team")


def _apply(request: HttpRequest, change: Callable[[Membership], object]) -> bool:
    """Run a team change as the signed-in member; a refused one becomes a message (403 stays
    a 403: the URL is not theirs to use)."""
    try:
        change(request_membership(request))
    except PermissionDenied:
        raise
    except ApplicationError as error:
        messages.error(request, str(error))
        return False
    return True


@login_required
@require_POST
def team_create_view(request: HttpRequest) -> HttpResponse:
    form = TeamCreateForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("A team needs a name."))
        return redirect("team")
    account = team_create(owner=request.user, name=form.cleaned_data["name"])
    account_switch(request, account_id=account.pk)
    messages.success(request, _("Team %(name)s created.") % {"name": account.name})
    return redirect("team")


@login_required
@require_POST
def account_switch_view(request: HttpRequest) -> HttpResponse:
    try:
        account_id = int(request.POST.get("account", ""))
    except ValueError:
        account_id = 0
    if account_switch(request, account_id=account_id) is None:
        messages.error(request, _("You are not a member of that account."))
    target = request.POST.get("next") or reverse("dashboard")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("dashboard")
    return redirect(target)


@never_cache
def invitation_accept_view(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the invitation (log in or sign up first); POST accepts it."""
    invitation = invitation_open_get(token=token)
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if request.method == "POST":
        membership = invitation_accept(user=request.user, token=token)
        account_switch(request, account_id=membership.account_id)
        messages.success(request, _("You joined %(account)s.") % {"account": membership.account})
        return redirect("dashboard")
    return render(request, "accounts/invitation.html", {"invitation": invitation})
