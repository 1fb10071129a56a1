"""/dashboard: the account at a glance, where login lands. Reads only, through selectors."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from accounts.web import request_account
from billing.costs import OPERATION_LABELS
from billing.ratelimit import account_quota_usage
from billing.selectors import CREDITS_WARNING_SHARE, account_billing_summary
from core.errors import TemporaryUnavailable
from core.operations import Operation
from dashboard.charts import usage_chart
from imaging.selectors import (
    account_spend_by_origin,
    account_usage_by_day,
    task_image_url,
    tasks_page,
)

USAGE_DAYS = 30
RECENT_TASKS = 8


@never_cache
@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    account = request_account(request)
    try:
        quotas = account_quota_usage(account=account)
    except TemporaryUnavailable:
        quotas = None  # the page still shows everything else
    recent = tasks_page(account=account, limit=RECENT_TASKS).tasks
    context = {
        "summary": account_billing_summary(account=account),
        "warning_percent": round(CREDITS_WARNING_SHARE * 100),
        "quotas": {usage.quota.name: usage for usage in quotas} if quotas else None,
        "chart": usage_chart(
            account_usage_by_day(account=account, days=USAGE_DAYS),
            today=timezone.now().date(),
            days=USAGE_DAYS,
        ),
        "usage_days": USAGE_DAYS,
        "spend": account_spend_by_origin(account=account, days=USAGE_DAYS),
        "recent": [
            {
                "task": task,
                "label": OPERATION_LABELS[Operation(task.operation)],
                "image_url": task_image_url(task=task),
            }
            for task in recent
        ],
    }
    return render(request, "dashboard/dashboard.html", context)
