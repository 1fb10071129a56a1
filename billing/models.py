"""Plans, each account's subscription, and the append-only credit ledger."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models import Account
from accounts.scoping import TenantOwnedModel
from core.operations import BATCH_MAX_IMAGES


class Plan(models.Model):
    """A price tier; seeded by migration, editable in admin."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=64)
    # None means unlimited (Max): nothing is debited, usage is still recorded.
    monthly_credits = models.PositiveIntegerField(null=True, blank=True)
    requests_per_minute = models.PositiveIntegerField()
    requests_per_day = models.PositiveIntegerField()
    max_file_size_mb = models.PositiveIntegerField()
    max_batch_images = models.PositiveIntegerField()
    max_concurrent_tasks = models.PositiveIntegerField()
    price_usd_cents = models.PositiveIntegerField(default=0)
    is_public = models.BooleanField(default=True, help_text=_("Shown on the pricing page."))
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_batch_images__gte=1, max_batch_images__lte=BATCH_MAX_IMAGES),
                name="plan_batch_images_1_to_20",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_unlimited(self) -> bool:
        return self.monthly_credits is None


class Subscription(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        TRIALING = "trialing", _("Trialing")
        PAST_DUE = "past_due", _("Past due")
        CANCELED = "canceled", _("Canceled")
        INCOMPLETE = "incomplete", _("Incomplete")
        UNPAID = "unpaid", _("Unpaid")

    class Source(models.TextChoices):
        FREE = "free", _("Free allowance")
        STAFF = "staff", _("Granted by staff")
        STRIPE = "stripe", _("Stripe")

    account = models.OneToOneField(Account, on_delete=models.CASCADE, related_name="subscription")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # Who keeps this subscription going: Stripe's invoices, or our beat job for staff grants.
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.FREE)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    last_renewed_at = models.DateTimeField(null=True, blank=True)
    stripe_customer_id = models.CharField(max_length=64, blank=True, db_index=True)
    stripe_subscription_id = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_subscription_id"],
                condition=~Q(stripe_subscription_id=""),
                name="subscription_unique_stripe_id",
            )
        ]

    def __str__(self) -> str:
        return f"{self.account}: {self.plan} ({self.status})"


# A refund's idempotency key is this prefix and its charge's key: at most one refund per charge.
REFUND_KEY_PREFIX = "refund:"


class CreditLedgerEntry(TenantOwnedModel):
    """One movement of an account's credits; rows are never updated or deleted."""

    class Kind(models.TextChoices):
        GRANT = "grant", _("Grant")
        RENEWAL = "renewal", _("Renewal")
        CHARGE = "charge", _("Charge")
        REFUND = "refund", _("Refund")
        ADJUSTMENT = "adjustment", _("Adjustment")

    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.IntegerField(help_text=_("Signed change of the balance."))
    # Credits consumed (charges positive, refunds negative): -amount, except on unlimited plans
    # where nothing is debited but usage is still recorded.
    usage = models.IntegerField(default=0)
    balance_after = models.IntegerField()
    # The same movement can never be written twice (unique per account, so one tenant's keys
    # can never collide with another's).
    idempotency_key = models.CharField(max_length=200)
    reference = models.CharField(max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = "credit ledger entry"
        verbose_name_plural = "credit ledger"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "idempotency_key"], name="ledger_unique_idempotency_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+d} → {self.balance_after}"


class UsageSpan(models.TextChoices):
    """The periods the usage rollups sum over (PostgreSQL's date_trunc names them the same);
    never shown to users, so their labels are not translated."""

    HOUR = "hour"
    DAY = "day"


class LedgerUsageRollup(TenantOwnedModel):
    """The credits the account's ledger rows used, per UTC hour and per UTC day: what "used
    this period" (billing.selectors.ledger_usage_since) adds up, so that a month of a busy
    account is ~50 rows to sum instead of ~500k ledger rows.

    Kept by PostgreSQL triggers on the ledger (migration 0007), in the transaction that writes
    the row; no Python code writes here. Empty on SQLite, whose table rebuilds would drop
    triggers: there the selector reads the ledger itself."""

    span = models.CharField(max_length=8, choices=UsageSpan.choices)
    start = models.DateTimeField()  # of the UTC hour or day the rows were created in
    usage = models.BigIntegerField(default=0)

    class Meta(TenantOwnedModel.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["account", "span", "start"], name="ledger_usage_rollup_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.span} {self.start:%Y-%m-%d %H:%M} {self.usage}"


class StripeEvent(models.Model):
    """Every Stripe webhook event acted on, once: the unique id makes replays no-ops."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class StaffMoneyAction(models.Model):
    """Audit trail: every staff action on an account's money or plan, with its reason."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    action = models.CharField(max_length=64)
    amount = models.IntegerField(null=True, blank=True)
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.account}"


class UsageAlert(models.Model):
    """A usage alert emailed to the account's owners and admins: at most once per account,
    billing period and threshold (billing.services.usage_alert_send)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    period_start = models.DateTimeField()
    percent = models.PositiveSmallIntegerField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "period_start", "percent"], name="usage_alert_once_per_period"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.percent}% ({self.period_start:%Y-%m-%d})"
