"""/dashboard: the account at a glance, where login lands. Reads only, through selectors."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from accounts.web import request_account
from billing.selectors import CREDITS_WARNING_SHARE
from dashboard.overview import account_overview


@never_cache
@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    context = {
        **account_overview(account=request_account(request)),
        "warning_percent": round(CREDITS_WARNING_SHARE * 100),
    }
    return render(request, "dashboard/dashboard.html", context)
