"""Billing pages: pricing, the billing page, Checkout and portal starts, the Stripe webhook."""

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from accounts.web import request_account, request_managed_account
from billing.selectors import (
    account_billing_summary,
    billing_page_get,
    plan_get,
    plan_list_public,
)
from billing.stripe_gateway import stripe_is_configured
from billing.stripe_sync import (
    WebhookRejected,
    checkout_session_start,
    portal_session_start,
    stripe_event_process,
)
from core.errors import ApplicationError, TemporaryUnavailable

logger = logging.getLogger(__name__)


class _SignedInRequest(HttpRequest):
    """What @login_required hands a view, for the type checker: request.user is a User."""

    user: User


def pricing(request: HttpRequest) -> HttpResponse:
    context = {"plans": plan_list_public(), "billing_configured": stripe_is_configured()}
    if request.user.is_authenticated:
        account = request_account(request)
        context["current_plan_code"] = billing_page_get(account=account).subscription.plan.code
    return render(request, "billing/pricing.html", context)


@login_required
@require_GET
def billing(request: _SignedInRequest) -> HttpResponse:
    account = request_managed_account(request)
    return render(
        request,
        "billing/billing.html",
        {
            "page": billing_page_get(account=account),
            "summary": account_billing_summary(account=account),
            "plans": plan_list_public(),
        },
    )


@login_required
@require_POST
def checkout(request: _SignedInRequest, plan_code: str) -> HttpResponse:
    if not stripe_is_configured():
        messages.error(request, _("Billing is not configured on this server yet."))
        return redirect("pricing")
    account = request_managed_account(request)
    billing_url = request.build_absolute_uri(reverse("billing"))
    try:
        url = checkout_session_start(
            account=account,
            plan=plan_get(code=plan_code),
            customer_email=request.user.email,
            success_url=f"{billing_url}?checkout=success",
            cancel_url=request.build_absolute_uri(reverse("pricing")),
        )
    except ApplicationError as error:
        messages.error(request, _user_message(error))
        return redirect("billing")
    # Stripe's hosted page is on another origin; a 303 makes the browser GET it.
    return HttpResponseRedirect(url, status=303)


@login_required
@require_POST
def portal(request: _SignedInRequest) -> HttpResponse:
    account = request_managed_account(request)
    try:
        url = portal_session_start(
            account=account, return_url=request.build_absolute_uri(reverse("billing"))
        )
    except ApplicationError as error:
        messages.error(request, _user_message(error))
        return redirect("billing")
    return HttpResponseRedirect(url, status=303)


def _user_message(error: ApplicationError) -> str:
    if isinstance(error, TemporaryUnavailable):
        return str(error.message)
    return _("That is not possible for this account: %(reason)s") % {"reason": error.details}


# Stripe signs the payload instead of sending a CSRF token; the signature is the authentication.
@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    try:
        stripe_event_process(
            payload=request.body, signature=request.headers.get("Stripe-Signature", "")
        )
    except WebhookRejected as error:
        logger.warning("Rejected Stripe webhook: %s", error)
        return HttpResponse(status=400)
    except TemporaryUnavailable as error:
        # Nothing was recorded, so Stripe's retry will process the event in full.
        return HttpResponse(status=503, headers=error.headers)
    return HttpResponse(status=200)
