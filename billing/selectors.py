"""Reads of plans, subscriptions and credit usage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet, Sum
from django.utils import timezone

from accounts.models import Account
from billing.models import CreditLedgerEntry, Plan, Subscription
from config.errors import InvalidRequest

ALLOWED_IMAGE_FORMATS = ("jpeg", "png", "webp")
FREE_PLAN_CODE = "free"


@dataclass(frozen=True)
class BillingSummary:
    plan: Plan
    status: str
    expires_at: datetime | None
    balance: int
    used_this_month: int
    last_renewed: datetime | None

    @property
    def status_label(self) -> str:
        return str(Subscription.Status(self.status).label)


def plan_get(*, code: str) -> Plan:
    plan = Plan.objects.filter(code=code).first()
    if plan is None:
        raise InvalidRequest(f"unknown plan {code!r}")
    return plan


def plan_list_public() -> QuerySet[Plan]:
    return Plan.objects.filter(is_public=True)


def account_billing_summary(*, account: Account) -> BillingSummary:
    subscription = Subscription.objects.select_related("plan").filter(account=account).first()
    if subscription is None:
        # Accounts staff create by hand in the admin have no row yet: they are on the free plan.
        subscription = Subscription(account=account, plan=plan_get(code=FREE_PLAN_CODE))
    period_start = subscription.last_renewed_at or _month_start()
    spent = (
        CreditLedgerEntry.objects.for_account(account)
        .filter(
            created_at__gte=period_start,
            kind__in=[CreditLedgerEntry.Kind.CHARGE, CreditLedgerEntry.Kind.REFUND],
        )
        .aggregate(total=Sum("amount"))["total"]
    )
    balance = Account.objects.values_list("credit_balance", flat=True).get(pk=account.pk)
    return BillingSummary(
        plan=subscription.plan,
        status=subscription.status,
        expires_at=subscription.current_period_end,
        balance=balance,
        used_this_month=-(spent or 0),
        last_renewed=subscription.last_renewed_at,
    )


def _month_start() -> datetime:
    return timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
