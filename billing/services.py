"""Credit movements and plan changes: the only code that changes an account's balance."""

from __future__ import annotations

from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Account, User
from billing.models import CreditLedgerEntry, Plan, Subscription
from billing.selectors import FREE_PLAN_CODE, plan_get


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

    def add() -> int:
        # The increment happens in the database, never read-modify-write in Python.
        Account.objects.filter(pk=account.pk).update(credit_balance=F("credit_balance") + amount)
        return amount

    return _ledger_move_once(
        account=account,
        move=add,
        kind=kind,
        idempotency_key=idempotency_key,
        note=note,
        reference=reference,
        actor=actor,
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

    def set_balance() -> int:
        # The row lock orders this against concurrent charges; no I/O happens while it is held.
        current = (
            Account.objects.select_for_update()
            .values_list("credit_balance", flat=True)
            .get(pk=account.pk)
        )
        Account.objects.filter(pk=account.pk).update(credit_balance=balance)
        return balance - current

    return _ledger_move_once(
        account=account,
        move=set_balance,
        kind=kind,
        idempotency_key=idempotency_key,
        note=note,
        reference=reference,
        actor=actor,
    )


def _ledger_move_once(
    *,
    account: Account,
    move: Callable[[], int],
    kind: str,
    idempotency_key: str,
    note: str,
    reference: str,
    actor: User | None,
) -> CreditLedgerEntry:
    """Run `move` (it changes the balance in the database and returns the signed amount) and
    append its ledger row, in one transaction, at most once per idempotency key."""
    existing = CreditLedgerEntry.objects.for_account(account).filter(
        idempotency_key=idempotency_key
    )
    if entry := existing.first():
        return entry
    try:
        with transaction.atomic():
            amount = move()
            balance_after = Account.objects.values_list("credit_balance", flat=True).get(
                pk=account.pk
            )
            account.credit_balance = balance_after
            return CreditLedgerEntry.objects.create(
                account=account,
                kind=kind,
                amount=amount,
                balance_after=balance_after,
                idempotency_key=idempotency_key,
                note=note,
                reference=reference,
                actor=actor,
            )
    except IntegrityError:
        # A concurrent writer recorded the same movement first; ours rolled back entirely.
        return existing.get()


@transaction.atomic
def account_billing_open(*, account: Account) -> Subscription:
    """A new account starts on the free plan with its one-time free allowance."""
    free = plan_get(code=FREE_PLAN_CODE)
    subscription, _ = Subscription.objects.get_or_create(
        account=account, defaults={"plan": free, "last_renewed_at": timezone.now()}
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
def subscription_set_plan(
    *, account: Account, plan: Plan, actor: User | None = None, reason: str = ""
) -> Subscription:
    """Put an account on `plan` by staff decision and start a fresh period with its allowance."""
    now = timezone.now()
    subscription, _ = Subscription.objects.update_or_create(
        account=account,
        defaults={
            "plan": plan,
            "status": Subscription.Status.ACTIVE,
            "last_renewed_at": now,
        },
    )
    credits_set_balance(
        account=account,
        balance=plan.monthly_credits or 0,
        kind=CreditLedgerEntry.Kind.RENEWAL,
        idempotency_key=f"plan:{account.pk}:{plan.code}:{now.isoformat()}",
        note=reason or f"Plan set to {plan.name}",
        actor=actor,
    )
    return subscription
