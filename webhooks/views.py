"""The /webhooks dashboard page: the signed-in user's callback URLs and their recent deliveries."""

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.web import request_managed_account
from core.errors import InvalidRequest
from webhooks.delivery import MAX_URL_LENGTH, CallbackUrlRejected
from webhooks.selectors import webhook_delivery_list, webhook_endpoint_list
from webhooks.services import (
    MAX_DESCRIPTION_LENGTH,
    webhook_delivery_redeliver,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_secret_rotate,
    webhook_endpoint_update,
)
from webhooks.signing import webhook_endpoint_secret

RECENT_DELIVERIES = 20


class WebhookEndpointCreateForm(forms.Form):
    url = forms.CharField(
        label=gettext_lazy("URL"),
        max_length=MAX_URL_LENGTH,
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/webhooks/nanobanana"}),
    )
    description = forms.CharField(
        label=gettext_lazy("Description"), max_length=MAX_DESCRIPTION_LENGTH, required=False
    )


def _render_page(
    request: HttpRequest, *, form: WebhookEndpointCreateForm, status: int = 200
) -> HttpResponse:
    account = request_managed_account(request)
    endpoints = [
        (endpoint, webhook_endpoint_secret(endpoint=endpoint))
        for endpoint in webhook_endpoint_list(account=account)
    ]
    context = {
        "endpoints": endpoints,
        "deliveries": webhook_delivery_list(account=account, limit=RECENT_DELIVERIES),
        "form": form,
        "rotation_grace": rotation_grace_text(),
    }
    return render(request, "webhooks/webhooks.html", context, status=status)


def rotation_grace_text() -> str:
    """How long the old secret keeps signing after a rotation, in the page's language."""
    now = timezone.now()
    grace = timedelta(seconds=settings.WEBHOOK_SECRET_ROTATION_GRACE_SECONDS)
    return timesince(now - grace, now)


@never_cache
@login_required
def webhooks_page(request: HttpRequest) -> HttpResponse:
    return _render_page(request, form=WebhookEndpointCreateForm())


@never_cache
@login_required
@require_POST
def webhook_endpoint_create_view(request: HttpRequest) -> HttpResponse:
    form = WebhookEndpointCreateForm(request.POST)
    if form.is_valid():
        account = request_managed_account(request)
        try:
            webhook_endpoint_create(account=account, **form.cleaned_data)
        except CallbackUrlRejected as error:
            form.add_error("url", error.reason)
        except InvalidRequest as error:
            form.add_error(None, str(error.details))
        else:
            messages.success(request, _("Webhook endpoint added."))
            return redirect("webhooks")
    return _render_page(request, form=form, status=400)


@login_required
@require_POST
def webhook_endpoint_delete_view(request: HttpRequest, endpoint_id: str) -> HttpResponse:
    account = request_managed_account(request)
    webhook_endpoint_delete(account=account, public_id=endpoint_id)
    messages.success(request, _("Webhook endpoint deleted."))
    return redirect("webhooks")


@login_required
@require_POST
def webhook_endpoint_switch_view(request: HttpRequest, endpoint_id: str) -> HttpResponse:
    """Switch an endpoint on (`is_active=1`) or off (anything else)."""
    account = request_managed_account(request)
    is_active = request.POST.get("is_active") == "1"
    webhook_endpoint_update(account=account, public_id=endpoint_id, is_active=is_active)
    if is_active:
        messages.success(request, _("Webhook endpoint switched on."))
    else:
        messages.success(request, _("Webhook endpoint switched off."))
    return redirect("webhooks")


@login_required
@require_POST
def webhook_endpoint_rotate_view(request: HttpRequest, endpoint_id: str) -> HttpResponse:
    account = request_managed_account(request)
    webhook_endpoint_secret_rotate(account=account, public_id=endpoint_id)
    messages.success(
        request,
        _("New signing secret made; messages carry the old one's signature for %(grace)s.")
        % {"grace": rotation_grace_text()},
    )
    return redirect("webhooks")


@login_required
@require_POST
def webhook_redeliver_view(request: HttpRequest, delivery_id: str) -> HttpResponse:
    account = request_managed_account(request)
    try:
        delivery = webhook_delivery_redeliver(account=account, public_id=delivery_id)
    except InvalidRequest as error:
        messages.error(request, str(error.details))
    else:
        messages.success(request, _("Delivery %(id)s queued again.") % {"id": delivery.public_id})
    return redirect("webhooks")
