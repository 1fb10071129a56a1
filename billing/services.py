"""Credit movements and plan changes: the only code that changes an account's balance."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from functools import cache, partial
from typing import Any, overload
from uuid import uuid4

from dateutil.relativedelta import relativedelta
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import ForeignKey, Model
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Account, Membership, User
from billing.models import (
    REFUND_KEY_PREFIX,
    CreditLedgerEntry,
    Plan,
    StaffMoneyAction,
    Subscription,
    UsageAlert,
)
from billing.selectors import (
    ACCOUNT_PLAN_SQL,
    FREE_PLAN_CODE,
    USAGE_ALERT_PERCENTS,
    account_plan,
    credits_used_share_of,
    period_start,
    plan_get,
    subscription_get,
)
from core.errors import InsufficientCredits
from core.metrics import CREDITS_CHARGED, CREDITS_REFUNDED


def credits_grant(
    *,
    account: Account,
    amount: int,
    kind: str,
    idempotency_key: str,
    note: str = "",
    reference: str = "",
    actor: User | None = None,
) -> CreditLedgerEntry:
    """Add `amount` (≥ 0) credits once per idempotency key; a repeat returns the first entry."""
    if amount < 0:
        raise ValueError("credits_grant adds credits; charges go through credits_charge")

    def add() -> Movement:
        return amount, _balance_change(account=account, delta=amount)

    return _ledger_move_once(
        account=account,
        move=add,
        kind=kind,
        idempotency_key=idempotency_key,
        note=note,
        reference=reference,
        actor=actor,
    )


@transaction.atomic
def credits_grant_by_staff(*, account: Account, amount: int, reason: str, actor: User) -> None:
    """A staff grant: a ledger row naming the staff member, and an audit row with the reason."""
    if not reason.strip():
        raise ValueError("staff grants need a reason")
    credits_grant(
        account=account,
        amount=amount,
        kind=CreditLedgerEntry.Kind.GRANT,
        idempotency_key=f"staff-grant:{uuid4().hex}",
        note=reason,
        reference=f"staff:{actor.pk}",
        actor=actor,
    )
    StaffMoneyAction.objects.create(
        actor=actor, account=account, action="grant credits", amount=amount, reason=reason
    )


def credits_set_balance(
    *,
    account: Account,
    balance: int,
    kind: str,
    idempotency_key: str,
    note: str = "",
    reference: str = "",
    actor: User | None = None,
) -> CreditLedgerEntry:
    """Make the balance exactly `balance` (renewals, staff adjustments), as one ledger movement."""
    if balance < 0:
        raise ValueError("a balance is never negative")

    def set_balance() -> Movement:
        # The row lock orders this against concurrent charges; no I/O happens while it is held.
        current = (
            Account.objects.select_for_update()
            .values_list("credit_balance", flat=True)
            .get(pk=account.pk)
        )
        Account.objects.filter(pk=account.pk).update(credit_balance=balance)
        return balance - current, balance

    return _ledger_move_once(
        account=account,
        move=set_balance,
        kind=kind,
        idempotency_key=idempotency_key,
        note=note,
        reference=reference,
        actor=actor,
    )


# What a balance change did: the signed amount moved and the balance right after.
Movement = tuple[int, int]


@overload
def _balance_change(*, account: Account, delta: int) -> int: ...
@overload
def _balance_change(*, account: Account, delta: int, keep_non_negative: bool) -> int | None: ...
def _balance_change(*, account: Account, delta: int, keep_non_negative: bool = False) -> int | None:
    """Add `delta` to the balance in the database (never read-modify-write in Python) and return
    the new balance in the same statement; None when `keep_non_negative` and it would go below 0.

    Raw SQL because the ORM's update() cannot return the row: this runs once per charge, and a
    second query to read the balance back is a fifth of a submit's database time.
    """
    quote = connection.ops.quote_name
    table, pk = quote(Account._meta.db_table), quote(Account._meta.pk.column)
    condition = " AND credit_balance + %s >= 0" if keep_non_negative else ""
    params = [delta, account.pk] + ([delta] if keep_non_negative else [])
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET credit_balance = credit_balance + %s "  # noqa: S608 (names only)
            f"WHERE {pk} = %s{condition} RETURNING credit_balance",
            params,
        )
        row = cursor.fetchone()
    return None if row is None else row[0]


def _ledger_move_once(
    *,
    account: Account,
    move: Callable[[], Movement],
    usage: int = 0,
    kind: str,
    idempotency_key: str,
    note: str,
    reference: str,
    actor: User | None,
) -> CreditLedgerEntry:
    """Run `move` (it changes the balance in the database) and append its ledger row, in one
    transaction, at most once per idempotency key.

    The key's unique constraint decides: a repeat's insert fails and rolls its move back with it,
    so the common case (a new key) costs no lookup first.
    """
    existing = CreditLedgerEntry.objects.for_account(account).filter(
        idempotency_key=idempotency_key
    )
    try:
        with transaction.atomic():
            amount, balance_after = move()
            account.credit_balance = balance_after
            # TenantScopedManager.create is typed as returning a bare Model (accounts/scoping.py).
            return CreditLedgerEntry.objects.create(  # type: ignore[return-value]
                account=account,
                kind=kind,
                amount=amount,
                usage=usage,
                balance_after=balance_after,
                idempotency_key=idempotency_key,
                note=note,
                reference=reference,
                actor=actor,
            )
    except IntegrityError:
        # This movement was recorded before (a retry, or a concurrent writer); ours rolled back.
        return existing.get()
    except InsufficientCredits:
        # A repeated charge returns its first entry even when the balance is short by now.
        if entry := existing.first():
            return entry
        raise


def credits_charge(
    *,
    account: Account,
    cost: int,
    idempotency_key: str,
    reference: str = "",
    note: str = "",
) -> CreditLedgerEntry:
    """Take `cost` credits for work about to be done, once per idempotency key.

    One conditional UPDATE (`balance >= cost`) decides, so concurrent charges can never spend a
    credit twice; InsufficientCredits when the balance is short, with nothing written.
    Unlimited plans are not debited; the charge is still recorded as usage.
    """
    if cost <= 0:
        raise ValueError("a charge costs at least one credit")
    if connection.vendor == "postgresql":
        # The common case in one round trip; None when the balance is short or the key was used
        # before, which the general path below decides.
        charged = _charge_in_one_statement(
            account=account,
            cost=cost,
            idempotency_key=idempotency_key,
            reference=reference,
            note=note,
        )
        if charged is not None:
            return charged
    plan = account_plan(account=account)
    unlimited = plan.is_unlimited

    def debit() -> Movement:
        # Counted once this movement commits; a repeated key rolls the callback back with it.
        transaction.on_commit(partial(CREDITS_CHARGED.inc, cost), robust=True)
        if unlimited:
            balance = Account.objects.values_list("credit_balance", flat=True).get(pk=account.pk)
            return 0, balance
        # One conditional statement decides: concurrent charges can never spend a credit twice.
        balance_after = _balance_change(account=account, delta=-cost, keep_non_negative=True)
        if balance_after is None:
            balance = Account.objects.values_list("credit_balance", flat=True).get(pk=account.pk)
            raise InsufficientCredits(
                _("This request costs %(cost)d credits; the balance is %(balance)d.")
                % {"cost": cost, "balance": balance}
            )
        return -cost, balance_after

    charge = _ledger_move_once(
        account=account,
        move=debit,
        usage=cost,
        kind=CreditLedgerEntry.Kind.CHARGE,
        idempotency_key=idempotency_key,
        note=note,
        reference=reference,
        actor=None,
    )
    if not unlimited:
        after = charge.balance_after
        _usage_alerts_due(
            account=account, monthly_credits=plan.monthly_credits, before=after + cost, after=after
        )
    return charge


def credits_charge_with_row(
    *,
    account: Account,
    cost: int,
    idempotency_key: str,
    reference: str,
    row: Model,
    charge_field: str,
) -> CreditLedgerEntry | None:
    """credits_charge and the INSERT of `row` (a new model instance whose `charge_field` is to
    point at the charge) in one statement, which is its own transaction: the task a submit
    creates. As a charge and a save inside a transaction it took five more round trips (BEGIN,
    a savepoint and its release, the INSERT, COMMIT) and the ORM's insert, a fifth of a
    submit's server CPU (bench/api.py).

    PostgreSQL outside a transaction only. None when nothing was written: another database, a
    caller's transaction, a short balance or a key used before; the caller then charges and
    saves the usual way, which decides those cases.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return None
    if cost <= 0:
        raise ValueError("a charge costs at least one credit")
    return _charge_in_one_statement(
        account=account,
        cost=cost,
        idempotency_key=idempotency_key,
        reference=reference,
        note="",
        row=row,
        charge_field=charge_field,
    )


def _charge_in_one_statement(
    *,
    account: Account,
    cost: int,
    idempotency_key: str,
    reference: str,
    note: str,
    row: Model | None = None,
    charge_field: str = "",
) -> CreditLedgerEntry | None:
    """credits_charge on PostgreSQL, in one statement: read the plan, debit when it is limited
    and the balance covers the cost (an unlimited plan is read, not debited), and insert the
    ledger row from what that returned; the usage alerts it crossed are then due. Returns the
    entry; None when nothing was written (a short balance, or a key used before), for the
    general path to decide.

    On one busy account every charge waits for the account's row lock, so the charge rate is
    one over the time the lock is held. Run as UPDATE, INSERT, COMMIT from Python after a plan
    SELECT, the lock was held across three round trips (and the GIL waits between them): 0.23x
    a naive read-modify-write on one hot account (bench/credits.py). As one statement in
    autocommit it is held for that statement and its commit only. The key's unique constraint
    still decides: a concurrent repeat's insert fails the whole statement, its debit included.
    With `row`, the statement also inserts it pointing at the new entry (credits_charge_with_row).
    """
    created_at = timezone.now()
    params: dict[str, Any] = {
        "account": account.pk,
        "free_plan": FREE_PLAN_CODE,
        "cost": cost,
        "kind": CreditLedgerEntry.Kind.CHARGE.value,
        "key": idempotency_key,
        "reference": reference,
        "note": note,
        "created_at": created_at,
    }
    inserted = _RowInsert.of(row, charge_field=charge_field) if row is not None else None
    if inserted is not None:
        params |= inserted.params
    try:
        # Inside a caller's transaction (task submit) a savepoint keeps a repeat's failure from
        # aborting it; in autocommit the statement is its own transaction.
        savepoint = transaction.atomic() if connection.in_atomic_block else nullcontext()
        with savepoint, connection.cursor() as cursor:
            cursor.execute(_charge_sql(inserted.shape if inserted else None), params)
            result = cursor.fetchone()
    except IntegrityError:
        return None  # recorded before (a retry, or a concurrent writer); ours rolled back
    if result is None or result[1] is None:
        return None
    monthly_credits, entry_id, amount, balance_after, *row_pk = result
    transaction.on_commit(partial(CREDITS_CHARGED.inc, cost), robust=True)
    account.credit_balance = balance_after
    entry = CreditLedgerEntry(
        id=entry_id,
        account=account,
        kind=CreditLedgerEntry.Kind.CHARGE,
        amount=amount,
        usage=cost,
        balance_after=balance_after,
        idempotency_key=idempotency_key,
        reference=reference,
        note=note,
        actor=None,
        created_at=created_at,
    )
    _saved(entry)
    if row is not None:
        row.pk = row_pk[0]
        setattr(row, charge_field, entry)
        _saved(row)
    _usage_alerts_due(
        account=account,
        monthly_credits=monthly_credits,
        before=balance_after + cost,
        after=balance_after,
    )
    return entry


def _saved(instance: Model) -> None:
    """The row of `instance` exists now: a save() updates it rather than inserting."""
    instance._state.adding = False
    instance._state.db = connection.alias


@dataclass(frozen=True)
class _RowShape:
    """What the charge statement needs to know of a row it inserts: names from its model."""

    table: str
    columns: tuple[str, ...]  # the columns set from parameters, in the order of `params`
    charge_column: str
    pk_column: str


@dataclass(frozen=True)
class _RowInsert:
    shape: _RowShape
    params: dict[str, Any]

    @classmethod
    def of(cls, row: Model, *, charge_field: str) -> _RowInsert:
        """Every concrete field of the new `row` but its primary key and the charge, prepared
        for the database as Model.save() prepares them (defaults, auto_now_add, JSON)."""
        meta = row._meta
        charge = meta.get_field(charge_field)
        assert isinstance(charge, ForeignKey) and meta.pk is not None
        fields = [f for f in meta.concrete_fields if f is not meta.pk and f is not charge]
        values = {
            f"row_{i}": field.get_db_prep_save(field.pre_save(row, add=True), connection)
            for i, field in enumerate(fields)
        }
        shape = _RowShape(
            table=meta.db_table,
            columns=tuple(field.column for field in fields),
            charge_column=charge.column,
            pk_column=meta.pk.column,
        )
        return cls(shape=shape, params=values)


@cache
def _charge_sql(row: _RowShape | None = None) -> str:
    """The charge's one statement; its last SELECT always answers one row (the plan's monthly
    credits), with the new entry's id, amount and balance when the charge was written, and the
    id of `row` inserted with it."""
    quote = connection.ops.quote_name
    accounts = quote(Account._meta.db_table)
    ledger = quote(CreditLedgerEntry._meta.db_table)

    def column(model: type[Account] | type[CreditLedgerEntry], name: str) -> str:
        return quote(next(f.column for f in model._meta.concrete_fields if f.name == name))

    pk, balance = column(Account, "id"), column(Account, "credit_balance")
    entry_id = column(CreditLedgerEntry, "id")
    entry_amount = column(CreditLedgerEntry, "amount")
    entry_balance = column(CreditLedgerEntry, "balance_after")
    values = {
        "account": "%(account)s",
        "kind": "%(kind)s",
        "amount": "moved.amount",
        "usage": "%(cost)s",
        "balance_after": "moved.balance",
        "idempotency_key": "%(key)s",
        "reference": "%(reference)s",
        "actor": "NULL",
        "note": "%(note)s",
        "created_at": "%(created_at)s",
    }
    # Names from the models only; every value is a parameter.
    return (
        f"WITH plan AS ({ACCOUNT_PLAN_SQL}), "  # noqa: S608
        # A limited plan: debit when the balance covers the cost.
        f"debit AS (UPDATE {accounts} SET {balance} = {balance} - %(cost)s FROM plan "
        f"WHERE {pk} = %(account)s AND plan.monthly_credits IS NOT NULL "
        f"AND {balance} >= %(cost)s RETURNING {balance}), "
        # An unlimited plan: nothing is debited (so no row lock), the usage is still recorded.
        f"moved AS (SELECT -%(cost)s AS amount, {balance} AS balance FROM debit UNION ALL "
        f"SELECT 0, {balance} FROM {accounts}, plan "
        f"WHERE {pk} = %(account)s AND plan.monthly_credits IS NULL), "
        f"entry AS (INSERT INTO {ledger} "
        f"({', '.join(column(CreditLedgerEntry, f) for f in values)}) "
        f"SELECT {', '.join(values.values())} FROM moved "
        f"RETURNING {entry_id}, {entry_amount}, {entry_balance}) "
        + _row_insert_sql(row, entry_id=entry_id)
        + f"SELECT plan.monthly_credits, entry.{entry_id}, entry.{entry_amount}, "  # noqa: S608
        f"entry.{entry_balance}{', inserted.pk' if row else ''} "
        f"FROM plan LEFT JOIN entry ON true{' LEFT JOIN inserted ON true' if row else ''}"
    )


def _row_insert_sql(row: _RowShape | None, *, entry_id: str) -> str:
    """The row inserted with the charge, when there is one: only when an entry was written."""
    if row is None:
        return ""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(column) for column in (*row.columns, row.charge_column))
    values = ", ".join(f"%(row_{i})s" for i in range(len(row.columns)))
    return (
        f", inserted AS (INSERT INTO {quote(row.table)} ({columns}) "  # noqa: S608
        f"SELECT {values}, entry.{entry_id} FROM entry RETURNING {quote(row.pk_column)} AS pk) "
    )


def _usage_alerts_due(
    *, account: Account, monthly_credits: int | None, before: int, after: int
) -> None:
    """After a charge took the balance from `before` to `after` on a plan of `monthly_credits`:
    each alert threshold it crossed is emailed once the charge commits (a charge rolled back
    alerts nobody)."""
    was = credits_used_share_of(monthly_credits=monthly_credits, balance=before) or 0.0
    now = credits_used_share_of(monthly_credits=monthly_credits, balance=after) or 0.0
    for percent in USAGE_ALERT_PERCENTS:
        if was < percent / 100 <= now:
            transaction.on_commit(partial(usage_alert_send, account=account, percent=percent))


def usage_alert_send(*, account: Account, percent: int) -> bool:
    """Email the account's owners and admins that `percent`% of the period's credits are used;
    once per period and threshold (the unique UsageAlert row decides). True when sent now."""
    subscription = subscription_get(account=account)
    _alert, created = UsageAlert.objects.get_or_create(
        account=account, period_start=period_start(subscription=subscription), percent=percent
    )
    if not created:
        return False
    recipients = list(
        Membership.objects.filter(
            account=account, role__in=[Membership.Role.OWNER, Membership.Role.ADMIN]
        ).values_list("user__email", flat=True)
    )
    facts = {
        "percent": percent,
        "account": account.name,
        "plan": subscription.plan.name,
        "balance": Account.objects.values_list("credit_balance", flat=True).get(pk=account.pk),
        "renewal": f"{subscription.current_period_end:%Y-%m-%d}"
        if subscription.current_period_end
        else "-",
    }
    # Both languages in one message: an account has no language of its own.
    texts = []
    for language in ("en", "zh-hans"):
        with translation.override(language):
            texts.append(
                _(
                    "%(account)s has used %(percent)d%% of this period's credits on the "
                    "%(plan)s plan: %(balance)d credits are left (renewal: %(renewal)s). "
                    "Upgrade or add credits on /billing; once they are used up, requests are "
                    "refused with INSUFFICIENT_CREDITS."
                )
                % facts
            )
    send_mail(
        subject=f"[Nano Banana] {percent}% of your credits used · 积分已用 {percent}%",
        message="\n\n".join(texts) + "\n",
        from_email=None,
        recipient_list=recipients,
    )
    return True


def credits_refund(*, charge: CreditLedgerEntry, note: str = "") -> CreditLedgerEntry:
    """Give back what `charge` took (work failed or was cancelled); at most once per charge."""
    if charge.kind != CreditLedgerEntry.Kind.CHARGE:
        raise ValueError("only charges are refunded")
    account = charge.account

    def credit_back() -> Movement:
        transaction.on_commit(partial(CREDITS_REFUNDED.inc, charge.usage), robust=True)
        return -charge.amount, _balance_change(account=account, delta=-charge.amount)

    return _ledger_move_once(
        account=account,
        move=credit_back,
        usage=-charge.usage,
        kind=CreditLedgerEntry.Kind.REFUND,
        idempotency_key=f"{REFUND_KEY_PREFIX}{charge.idempotency_key}",
        note=note,
        reference=charge.reference,
        actor=None,
    )


@transaction.atomic
def account_billing_open(*, account: Account) -> Subscription:
    """A new account starts on the free plan with its one-time free allowance."""
    free = plan_get(code=FREE_PLAN_CODE)
    subscription, _ = Subscription.objects.get_or_create(
        account=account,
        defaults={
            "plan": free,
            "source": Subscription.Source.FREE,
            "last_renewed_at": timezone.now(),
        },
    )
    credits_grant(
        account=account,
        amount=free.monthly_credits or 0,
        kind=CreditLedgerEntry.Kind.GRANT,
        idempotency_key=f"signup-allowance:{account.pk}",
        note="Free allowance on sign-up",
    )
    return subscription


@transaction.atomic
def subscription_start_period(
    *,
    subscription: Subscription,
    period_start: datetime,
    period_end: datetime | None,
    reference: str = "",
    actor: User | None = None,
    note: str = "",
) -> CreditLedgerEntry:
    """Begin a billing period: the balance becomes the plan's allowance, once per period.

    Unused credits do not roll over. Idempotent: the same period start writes one ledger row,
    whichever of the webhook, the beat job or a retry gets here first.
    """
    entry = credits_set_balance(
        account=subscription.account,
        balance=subscription.plan.monthly_credits or 0,
        kind=CreditLedgerEntry.Kind.RENEWAL,
        idempotency_key=f"period:{subscription.account_id}:{period_start.isoformat()}",
        reference=reference,
        note=note or f"{subscription.plan.name} period from {period_start:%Y-%m-%d}",
        actor=actor,
    )
    subscription.current_period_start = period_start
    subscription.current_period_end = period_end
    subscription.last_renewed_at = period_start
    subscription.save(
        update_fields=[
            "current_period_start",
            "current_period_end",
            "last_renewed_at",
            "updated_at",
        ]
    )
    return entry


@transaction.atomic
def subscription_set_plan(
    *, account: Account, plan: Plan, actor: User | None = None, reason: str = ""
) -> Subscription:
    """Put an account on `plan` by staff decision and start a fresh monthly period.

    Staff-granted plans are renewed by `subscriptions_renew_due` (the beat job).
    """
    now = timezone.now()
    subscription, _ = Subscription.objects.select_for_update().update_or_create(
        account=account,
        defaults={
            "plan": plan,
            "status": Subscription.Status.ACTIVE,
            "source": Subscription.Source.STAFF,
            "cancel_at_period_end": False,
        },
    )
    subscription_start_period(
        subscription=subscription,
        period_start=now,
        period_end=now + relativedelta(months=1),
        actor=actor,
        note=reason or f"Plan set to {plan.name}",
    )
    if actor is not None:
        StaffMoneyAction.objects.create(
            actor=actor, account=account, action=f"set plan {plan.code}", reason=reason
        )
    return subscription


def subscriptions_renew_due(*, now: datetime | None = None) -> int:
    """Start the next period of every staff-granted subscription whose period has ended.

    Run by Celery beat; safe to run any number of times. Returns how many periods started.
    """
    now = now or timezone.now()
    started = 0
    due = Subscription.objects.select_related("plan", "account").filter(
        source=Subscription.Source.STAFF,
        status=Subscription.Status.ACTIVE,
        current_period_end__lte=now,
    )
    for subscription in due:
        # A long-missed renewal catches up one period at a time: each is its own ledger row.
        while subscription.current_period_end and subscription.current_period_end <= now:
            start = subscription.current_period_end
            subscription_start_period(
                subscription=subscription,
                period_start=start,
                period_end=start + relativedelta(months=1),
                note="Monthly renewal",
            )
            started += 1
    return started
