"""Reads of plans, subscriptions, credit usage and the credit ledger."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Sum

# No stubs for the tuple lookups yet (django-stubs 5.2.9); imaging.selectors uses them the same way.
from django.db.models.fields.tuple_lookups import (  # type: ignore[import-untyped]
    Tuple,
    TupleLessThan,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Account
from billing.models import CreditLedgerEntry, LedgerUsageRollup, Plan, Subscription, UsageSpan
from billing.stripe_gateway import stripe_is_configured
from core.errors import InvalidRequest

ALLOWED_IMAGE_FORMATS = ("jpeg", "png", "webp")
FREE_PLAN_CODE = "free"


# Owners and admins are emailed when these shares of the period's credits are used (once per
# period each); the dashboard warns from the first.
USAGE_ALERT_PERCENTS = (80, 100)
CREDITS_WARNING_SHARE = USAGE_ALERT_PERCENTS[0] / 100


def credits_used_share(*, plan: Plan, balance: int) -> float | None:
    """How much of the plan's monthly credits is spent, from what is left (0 to 1); None on an
    unlimited plan. Credits granted on top count as not yet used."""
    return credits_used_share_of(monthly_credits=plan.monthly_credits, balance=balance)


def credits_used_share_of(*, monthly_credits: int | None, balance: int) -> float | None:
    """credits_used_share from the plan's monthly credits alone (None: unlimited), for a charge
    that read them in its own statement rather than as a Plan."""
    if not monthly_credits:
        return None
    return min(max(1 - balance / monthly_credits, 0.0), 1.0)


def period_start(*, subscription: Subscription) -> datetime:
    """When the subscription's current credit period began (its last renewal, else the month)."""
    return subscription.last_renewed_at or _month_start()


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
        return credits_used_share(plan=self.plan, balance=self.balance)

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


# The plan an account is on, as SQL for the charge's one statement (billing.services): its
# subscription's plan, else the free plan, by billing migration 0008's function (the task
# claim's function calls it too); account_plan below is the same rule through the ORM, and
# tests/billing/test_charge_statement.py holds them to the same answer.
ACCOUNT_PLAN_SQL = """
    SELECT plan.monthly_credits FROM billing_plan AS plan
    WHERE plan.id = billing_account_plan_id(%(account)s, %(free_plan)s)"""


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
    used = ledger_usage_since(account=account, since=period_start(subscription=subscription))
    balance = Account.objects.values_list("credit_balance", flat=True).get(pk=account.pk)
    return BillingSummary(
        plan=subscription.plan,
        status=subscription.status,
        expires_at=subscription.current_period_end,
        balance=balance,
        used_this_month=used or 0,
        last_renewed=subscription.last_renewed_at,
    )


def usage_rollups_kept() -> bool:
    """Whether the usage rollups (LedgerUsageRollup, imaging's TaskUsageRollup) are kept: by
    PostgreSQL triggers; on SQLite the tables stay empty and the sums are read from the rows."""
    return connection.vendor == "postgresql"


@dataclass(frozen=True)
class RollupSplit:
    """How a sum over the rows created since `since` splits: the rows themselves before the
    first whole UTC hour, hourly rollups up to the first whole UTC day, daily ones after it."""

    since: datetime
    first_hour: datetime
    first_day: datetime

    def rollups(self) -> Q:
        """The rollup rows (`span`, `start`) that cover from `first_hour` on."""
        return Q(span=UsageSpan.DAY, start__gte=self.first_day) | Q(
            span=UsageSpan.HOUR, start__gte=self.first_hour, start__lt=self.first_day
        )


def rollup_split(*, since: datetime) -> RollupSplit:
    utc = since.astimezone(UTC)
    hour = utc.replace(minute=0, second=0, microsecond=0)
    day = hour.replace(hour=0)
    return RollupSplit(
        since=since,
        first_hour=hour if hour == utc else hour + timedelta(hours=1),
        first_day=day if day == utc else day + timedelta(days=1),
    )


def ledger_usage_since(*, account: Account, since: datetime) -> int:
    """The credits the account's ledger rows created at or after `since` used.

    On PostgreSQL whole days and hours come from LedgerUsageRollup (~50 rows for a month,
    however many ledger rows it holds) and only the first, partial hour from the ledger itself;
    one query.
    """
    rows = CreditLedgerEntry.objects.for_account(account).filter(created_at__gte=since)
    if not usage_rollups_kept():
        return rows.aggregate(total=Sum("usage"))["total"] or 0
    split = rollup_split(since=since)
    first_hour = (
        rows.filter(created_at__lt=split.first_hour)
        .values("account")
        .annotate(total=Sum("usage"))
        .values_list("total", flat=True)
    )
    rollups = (
        LedgerUsageRollup.objects.for_account(account)
        .filter(split.rollups())
        .values("account")
        .annotate(total=Sum("usage"))
        .values_list("total", flat=True)
    )
    return sum(total or 0 for total in first_hour.union(rollups, all=True))


# The billing page shows this many ledger rows at a time; a caller may ask for up to the maximum.
LEDGER_PAGE_DEFAULT = 50
LEDGER_PAGE_MAX = 200
# Rows the CSV export reads per database round trip: memory stays flat however long the ledger.
LEDGER_EXPORT_CHUNK = 2000
# What the export writes of each row; loading only these keeps the rows small.
LEDGER_EXPORT_FIELDS = (
    "created_at",
    "kind",
    "amount",
    "usage",
    "balance_after",
    "reference",
    "note",
)


@dataclass(frozen=True)
class LedgerPage:
    entries: list[CreditLedgerEntry]
    has_more: bool
    # The cursor this page was read after; None: it is the newest page.
    before_id: int | None

    @property
    def next_before_id(self) -> int | None:
        """The cursor of the next (older) page; None on the last page."""
        return self.entries[-1].pk if self.has_more and self.entries else None


def ledger_page(
    *, account: Account, limit: int = LEDGER_PAGE_DEFAULT, before_id: int | None = None
) -> LedgerPage:
    """The account's ledger newest first, `limit` rows at a time, older than the row `before_id`.

    Ordered by (created_at, id), the (account, created_at) index's order, and the page starts
    strictly below the cursor row's (created_at, id): no row is shown twice or skipped across
    pages, even where two rows share a timestamp or commit out of id order. A cursor that is not
    a row of this account (another tenant's id, a made-up one) is ignored: the newest page.
    """
    limit = max(1, min(limit, LEDGER_PAGE_MAX))
    entries = CreditLedgerEntry.objects.for_account(account)
    cursor = None
    if before_id is not None:
        cursor = (
            CreditLedgerEntry.objects.for_account(account)
            .filter(pk=before_id)
            .values_list("created_at", "pk")
            .first()
        )
    if cursor is not None:
        entries = entries.filter(TupleLessThan(Tuple(F("created_at"), F("pk")), cursor))
    rows = list(entries.select_related("actor").order_by("-created_at", "-pk")[: limit + 1])
    return LedgerPage(
        entries=rows[:limit],
        has_more=len(rows) > limit,
        before_id=cursor[1] if cursor is not None else None,
    )


def ledger_rows_for_export(*, account: Account) -> Iterator[CreditLedgerEntry]:
    """Every ledger row of the account, newest first, read `LEDGER_EXPORT_CHUNK` rows at a time
    (a server-side cursor on PostgreSQL), for the CSV download."""
    rows: QuerySet[CreditLedgerEntry] = (
        CreditLedgerEntry.objects.for_account(account)
        .only(*LEDGER_EXPORT_FIELDS)
        .order_by("-created_at", "-pk")
    )
    return rows.iterator(chunk_size=LEDGER_EXPORT_CHUNK)


def _month_start() -> datetime:
    return timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
