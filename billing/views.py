"""Billing pages: pricing, the billing page and its ledger download, Checkout and portal starts,
the Stripe webhook."""

import csv
import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime
from itertools import islice

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from accounts.web import request_account, request_managed_account
from billing.models import CreditLedgerEntry
from billing.selectors import (
    account_billing_summary,
    billing_page_get,
    ledger_page,
    ledger_rows_for_export,
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
            "ledger": ledger_page(
                account=account, before_id=_ledger_cursor(request.GET.get("before"))
            ),
        },
    )


def _ledger_cursor(value: str | None) -> int | None:
    """`?before=` as a row id; anything else (text, negative, past a bigint): the newest page."""
    try:
        cursor = int(value or "")
    except ValueError:
        return None
    return cursor if 0 < cursor < 2**63 else None


LEDGER_CSV_HEADER = ("created_at", "kind", "amount", "usage", "balance_after", "reference", "note")
# A text cell starting with one of these is a formula to Excel and LibreOffice (CSV injection);
# a leading apostrophe makes it text. Number cells are written as numbers: -5 stays -5.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Rows per piece of the body under ASGI: one trip to the database thread per piece.
_CSV_ROWS_PER_PIECE = 500


@login_required
@require_GET
def ledger_csv(request: _SignedInRequest) -> StreamingHttpResponse:
    """The account's whole credit ledger as CSV, streamed: memory stays flat however long it is.

    UTF-8 with a byte-order mark, so Excel reads non-ASCII notes (Chinese) correctly.
    """
    account = request_managed_account(request)
    lines = _ledger_csv_lines(ledger_rows_for_export(account=account))
    # uvicorn serves the app over ASGI, where a sync iterator would be read whole into memory
    # first (Django warns); an async one hands the body over a piece at a time.
    content = _read_in_pieces(lines) if isinstance(request, ASGIRequest) else lines
    filename = f"nanobanana-ledger-{account.pk}-{timezone.now():%Y%m%d}.csv"
    return StreamingHttpResponse(
        content,
        content_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-store",
        },
    )


class _Echo:
    """A file for csv.writer that hands each formatted row back instead of storing it."""

    def write(self, value: str) -> str:
        return value


def _ledger_csv_lines(entries: Iterable[CreditLedgerEntry]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(LEDGER_CSV_HEADER)
    for entry in entries:
        yield writer.writerow(
            [
                _csv_text(_iso_utc(entry.created_at)),
                _csv_text(entry.kind),
                entry.amount,
                entry.usage,
                entry.balance_after,
                _csv_text(entry.reference),
                _csv_text(entry.note),
            ]
        )


def _csv_text(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def _read_in_pieces(lines: Iterator[str]) -> AsyncIterator[str]:
    """`lines` read in Django's sync thread (the database connection and cursor live there),
    `_CSV_ROWS_PER_PIECE` at a time."""
    take = sync_to_async(lambda: "".join(islice(lines, _CSV_ROWS_PER_PIECE)), thread_sensitive=True)
    while piece := await take():
        yield piece


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
