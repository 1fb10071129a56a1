"""What /dashboard shows of an account, for its members and for staff's inspect page alike."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from accounts.models import Account
from billing.costs import OPERATION_LABELS
from billing.ratelimit import account_quota_usage
from billing.selectors import account_billing_summary
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


def account_overview(*, account: Account) -> dict[str, Any]:
    """The dashboard's figures, read through the selectors; no writes."""
    try:
        quotas = account_quota_usage(account=account)
    except TemporaryUnavailable:
        quotas = None  # the page still shows everything else
    recent = tasks_page(account=account, limit=RECENT_TASKS).tasks
    return {
        "summary": account_billing_summary(account=account),
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
