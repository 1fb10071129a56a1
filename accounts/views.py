"""The signed-in user's profile: their account and its API keys."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.forms import ApiKeyCreateForm
from accounts.selectors import api_key_list, membership_can_manage
from accounts.services import api_key_issue, api_key_revoke
from accounts.web import request_managed_account, request_membership


def _render_profile(
    request: HttpRequest, *, form: ApiKeyCreateForm, new_key: str | None = None, status: int = 200
) -> HttpResponse:
    membership = request_membership(request)
    account = membership.account
    context = {
        "account": account,
        "can_manage": membership_can_manage(membership=membership),
        "api_keys": api_key_list(account=account),
        "form": form,
        "new_key": new_key,
    }
    return render(request, "accounts/profile.html", context, status=status)


@never_cache
@login_required
def profile(request: HttpRequest) -> HttpResponse:
    return _render_profile(request, form=ApiKeyCreateForm())


@never_cache
@login_required
@require_POST
def api_key_create(request: HttpRequest) -> HttpResponse:
    form = ApiKeyCreateForm(request.POST)
    if not form.is_valid():
        return _render_profile(request, form=form, status=400)
    account = request_managed_account(request)
    _api_key, raw_key = api_key_issue(
        account=account,
        name=form.cleaned_data["name"],
        created_by=request.user,
        expires_at=form.expires_at(),
    )
    # Rendered, not redirected: the plaintext key exists only in this one response.
    return _render_profile(request, form=ApiKeyCreateForm(), new_key=raw_key)


@login_required
@require_POST
def api_key_revoke_view(request: HttpRequest, key_id: int) -> HttpResponse:
    account = request_managed_account(request)
    api_key = api_key_revoke(account=account, key_id=key_id)
    messages.success(request, _("Key “%(name)s” revoked.") % {"name": api_key.name})
    return redirect("profile")
