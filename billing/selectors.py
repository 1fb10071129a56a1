"""Reads of plans, subscriptions and credit usage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import F, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Account
from billing.models import CreditLedgerEntry, Plan, Subscription
from billing.stripe_gateway import stripe_is_configured
from core.errors import InvalidRequest

ALLOWED_IMAGE_FORMATS = ("jpeg", "png", "webp")
FREE_PLAN_CODE = "free"


# The dashboard warns once this share of the period's credits is used.
CREDITS_WARNING_SHARE = 0.8


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

    @property
    def used_share(self) -> float | None:
        """The share of the period's credits used so far; None on an unlimited plan."""
        if self.plan.is_unlimited or not self.plan.monthly_credits:
            return None
        return self.used_this_month / self.plan.monthly_credits

    @property
    def credits_running_low(self) -> bool:
        return (self.used_share or 0) >= CREDITS_WARNING_SHARE


@dataclass(frozen=True)
class CreditDrift:
    account_id: int
    balance: int
    ledger_total: int


def credits_drift(*, account_id: int | None = None) -> list[CreditDrift]:
    """Accounts whose stored balance differs from the sum of their ledger (should be none).

    Staff reconciliation reads across tenants, hence `unscoped_objects`.
    """
    accounts = Account.objects.annotate(
        ledger_total=Coalesce(
            Subquery(
                CreditLedgerEntry.unscoped_objects.filter(account=OuterRef("pk"))
                .values("account")
                .annotate(total=Sum("amount"))
                .values("total")
            ),
            0,
        )
    ).exclude(credit_balance=F("ledger_total"))
    if account_id is not None:
        accounts = accounts.filter(pk=account_id)
    return [
        CreditDrift(account_id=a.pk, balance=a.credit_balance, ledger_total=a.ledger_total)
        for a in accounts.order_by("pk")
    ]


def plan_get(*, code: str) -> Plan:
    plan = Plan.objects.filter(code=code).first()
    if plan is None:
        raise InvalidRequest(f"unknown plan {code!r}")
    return plan


def plan_list_public() -> QuerySet[Plan]:
    return Plan.objects.filter(is_public=True)


@dataclass(frozen=True)
class BillingPage:
    subscription: Subscription
    configured: bool

    @property
    def can_manage(self) -> bool:
        return self.configured and bool(self.subscription.stripe_customer_id)

    @property
    def has_live_stripe_subscription(self) -> bool:
        return (
            self.subscription.source == Subscription.Source.STRIPE
            and bool(self.subscription.stripe_subscription_id)
            and self.subscription.status != Subscription.Status.CANCELED
        )


def subscription_get(*, account: Account) -> Subscription:
    """The account's subscription; accounts staff create by hand in the admin have no row yet
    and are on the free plan (an unsaved row says so)."""
    subscription = Subscription.objects.select_related("plan").filter(account=account).first()
    return subscription or Subscription(account=account, plan=plan_get(code=FREE_PLAN_CODE))


def billing_page_get(*, account: Account) -> BillingPage:
    return BillingPage(
        subscription=subscription_get(account=account),
        configured=stripe_is_configured(),
    )


def plan_price_id(*, plan: Plan) -> str:
    return settings.STRIPE_PRICE_IDS.get(plan.code, "")


def account_plan(*, account: Account) -> Plan:
    """The plan the account is on now; accounts without a subscription row are on the free plan.

    No query when the account was read with its subscription and plan: API-key authentication
    does that once per request, and a request asks for the plan several times.
    """
    if Account.subscription.is_cached(account):
        subscription = getattr(account, "subscription", None)  # None: no subscription row
        plan = subscription.plan if subscription is not None else None
    else:
        plan = Plan.objects.filter(subscriptions__account=account).first()
    return plan or plan_get(code=FREE_PLAN_CODE)


def charge_balance_left(*, charge: CreditLedgerEntry) -> int | None:
    """The balance right after `charge`; None when the plan is unlimited (nothing was debited,
    so the charge moved no credits)."""
    return None if charge.amount == 0 else charge.balance_after


def account_upload_limit_bytes(*, account: Account) -> int:
    """The largest input file the account's plan accepts; imaging answers 413 above it."""
    return account_plan(account=account).max_file_size_mb * 1024 * 1024


def account_pixel_limit(*, account: Account) -> int:
    """The largest decoded input the account's plan accepts: 2 megapixels per MB of its file
    limit, so a small file cannot decode into a huge bitmap."""
    return account_plan(account=account).max_file_size_mb * 2_000_000


def account_billing_summary(*, account: Account) -> BillingSummary:
    subscription = subscription_get(account=account)
    period_start = subscription.last_renewed_at or _month_start()
    used = (
        CreditLedgerEntry.objects.for_account(account)
        .filter(created_at__gte=period_start)
        .aggregate(total=Sum("usage"))["total"]
    )
    balance = Account.objects.values_list("credit_balance", flat=True).get(pk=account.pk)
    return BillingSummary(
        plan=subscription.plan,
        status=subscription.status,
        expires_at=subscription.current_period_end,
        balance=balance,
        used_this_month=used or 0,
        last_renewed=subscription.last_renewed_at,
    )


def _month_start() -> datetime:
    return timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
