"""Benchmark: credit charges per second, on one hot account and across 100 accounts, with the
lost-update count, against a naive read-modify-write charge measured in the same run.

Run: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/nanobanana .venv/bin/python bench/credits.py`
(a throw-away test database is created and dropped). Target: 0 lost updates for our charge.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django

django.setup()

from django.db import connection, connections  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from accounts.models import Account  # noqa: E402
from accounts.services import user_create, user_personal_account_ensure  # noqa: E402
from billing.selectors import credits_drift  # noqa: E402
from billing.services import credits_charge, credits_set_balance  # noqa: E402

COST = 5
START_BALANCE = 1_000_000


def naive_charge(*, account: Account, cost: int, idempotency_key: str) -> None:
    """The classic bug: read the balance in Python, write it back. Here only as the baseline."""
    row = Account.objects.get(pk=account.pk)
    Account.objects.filter(pk=account.pk).update(credit_balance=row.credit_balance - cost)


def new_accounts(count: int, tag: str) -> list[Account]:
    users = [user_create(email=f"bench{tag}-{i}@example.com") for i in range(count)]
    return [user_personal_account_ensure(user=user) for user in users]


def fund(accounts: list[Account], tag: str) -> None:
    for account in accounts:
        credits_set_balance(
            account=account,
            balance=START_BALANCE,
            kind="adjustment",
            idempotency_key=f"fund:{tag}",
        )


def run(
    charge: Callable[..., object], accounts: list[Account], charges: int, workers: int, tag: str
) -> tuple[float, int]:
    """Charges per second and lost updates (credits charged but not debited)."""
    fund(accounts, tag)

    def worker(indexes: range) -> None:
        # One connection per thread for its whole share, as a web worker keeps its connection.
        try:
            for i in indexes:
                account = accounts[i % len(accounts)]
                charge(account=account, cost=COST, idempotency_key=f"{tag}:{i}")
        finally:
            connections.close_all()

    shares = [range(w, charges, workers) for w in range(workers)]
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(worker, shares))
    elapsed = time.perf_counter() - started
    debited = sum(
        START_BALANCE - b
        for b in Account.objects.filter(pk__in=[a.pk for a in accounts]).values_list(
            "credit_balance", flat=True
        )
    )
    lost = (charges * COST - debited) // COST
    return charges / elapsed, lost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--charges", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()

    setup_test_environment()
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        rows, ours = [], set()
        for label, size in (("one hot account", 1), ("100 accounts", 100)):
            for name, fn in (
                ("naive read-modify-write", naive_charge),
                ("credits_charge", credits_charge),
            ):
                # Fresh accounts per row: naive charges leave balances the ledger cannot explain.
                accts = new_accounts(size, f"{len(rows)}")
                if fn is credits_charge:
                    ours.update(a.pk for a in accts)
                rate, lost = run(fn, accts, args.charges, args.workers, f"{name}:{label}")
                rows.append((label, name, rate, lost))
        drift = len([d for d in credits_drift() if d.account_id in ours])
    finally:
        connections.close_all()
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)

    print(
        f"Credit charges on {connection.vendor}: {args.charges} charges of {COST}, "
        f"{args.workers} threads, each with its own connection"
    )
    print(f"{'scenario':<18} {'charge':<26} {'charges/s':>10} {'lost updates':>13}")
    print("-" * 70)
    for label, name, rate, lost in rows:
        print(f"{label:<18} {name:<26} {rate:>10.0f} {lost:>13}")
    print("-" * 70)
    ours_lost = sum(lost for _l, name, _r, lost in rows if name == "credits_charge")
    print(f"credits_charge accounts whose balance differs from their ledger: {drift}")
    verdict = "PASS" if ours_lost == 0 and drift == 0 else "FAIL"
    print(f"target: 0 lost updates for credits_charge -> {ours_lost} {verdict}")
    sys.exit(0 if verdict == "PASS" else 1)


if __name__ == "__main__":
    main()
