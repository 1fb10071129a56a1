"""Benchmark: credit charges per second, on one hot account and across 100 accounts, with the
lost-update count, against a naive read-modify-write charge measured in the same run.

Run: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/nanobanana .venv/bin/python bench/credits.py
[--quick] [--charges N] [--workers N] [--strict]` (a throw-away test database, `test_<name>`, is
created and dropped). `--quick`: 200 charges, 16 threads (seconds). Goals: on one hot account,
charges/s >= 0.8x the naive charge's, with 0 lost updates for ours. Exits 1 on a lost update;
with --strict also when the rate goal is missed (not in --quick, whose 200 charges decide
nothing), as the other benchmarks do. `--summary PATH` also writes the headline figures as JSON.

Each thread keeps one connection for its whole share, and the main thread keeps one too: on
PostgreSQL the connections come from the project's psycopg pool (DATABASE_POOL_SIZE, 10 by
default), so the bench sizes that pool to the threads + 1; with the default pool, 16 threads
waited on 10 connections and the pool's 3 s timeout failed the run.
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
from bench.summary import Figure, figures_write, summary_argument

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 charges per row (seconds)")
    parser.add_argument("--charges", type=int, default=None, help="charges per row (2000)")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--strict", action="store_true", help="exit 1 when the rate goal is missed")
    summary_argument(parser)
    args = parser.parse_args()
    if args.charges is None:
        args.charges = 200 if args.quick else 2000
    return args


ARGS = arguments()
LOCAL_POSTGRES = "postgres://postgres@127.0.0.1:5432/nanobanana_bench"
# Read by config.settings.base at django.setup(): one pooled connection per thread, plus the main
# thread's, which it holds while the threads charge.
pool_size = int(os.environ.get("DATABASE_POOL_SIZE", "0") or 0)
os.environ["DATABASE_POOL_SIZE"] = str(max(pool_size, ARGS.workers + 1))
# It measures PostgreSQL's row locks (SQLite locks the whole database for each writer): DATABASE_URL
# when it names a PostgreSQL server, else the local one.
if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
    os.environ["DATABASE_URL"] = LOCAL_POSTGRES

import django  # noqa: E402

django.setup()

from django.db import connection, connections  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from accounts.models import Account  # noqa: E402
from accounts.services import user_create, user_personal_account_ensure  # noqa: E402
from billing.selectors import credits_drift  # noqa: E402
from billing.services import credits_charge, credits_set_balance  # noqa: E402

COST = 5
START_BALANCE = 1_000_000
# On one hot account every charge waits for the account's row lock: ours must stay within this
# share of the naive charge's rate (which loses updates to get it).
HOT_RATIO_GOAL = 0.8


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


def pool_note() -> str:
    """The connection pool's size, on PostgreSQL (where the threads draw from it)."""
    pool = connection.settings_dict.get("OPTIONS", {}).get("pool")
    return f" (pool of {pool['max_size']})" if isinstance(pool, dict) else ""


def main() -> None:
    args = ARGS
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
        f"{args.workers} threads, each with its own connection{pool_note()}"
    )
    print(f"{'scenario':<18} {'charge':<26} {'charges/s':>10} {'lost updates':>13}")
    print("-" * 70)
    for label, name, rate, lost in rows:
        print(f"{label:<18} {name:<26} {rate:>10.0f} {lost:>13}")
    print("-" * 70)
    ours_lost = sum(lost for _l, name, _r, lost in rows if name == "credits_charge")
    print(f"credits_charge accounts whose balance differs from their ledger: {drift}")
    rate = {(label, name): r for label, name, r, _lost in rows}
    hot, hot_naive = (
        rate["one hot account", "credits_charge"],
        rate["one hot account", "naive read-modify-write"],
    )
    ratio = hot / hot_naive
    ratio_met = ratio >= HOT_RATIO_GOAL
    safe = ours_lost == 0 and drift == 0
    print(
        f"target: one hot account, credits_charge >= {HOT_RATIO_GOAL}x naive -> {ratio:.2f}x "
        f"{'PASS' if ratio_met else 'FAIL'}" + (" (--quick decides nothing)" if args.quick else "")
    )
    print(f"target: 0 lost updates for credits_charge -> {ours_lost} {'PASS' if safe else 'FAIL'}")
    decided = None if args.quick else ratio_met
    figures_write(
        args.summary,
        [
            Figure(
                "credits", "charges/s, one hot account", hot, hot_naive,
                "naive read-modify-write", f">= {HOT_RATIO_GOAL}x baseline", decided,
            ),
            Figure(
                "credits", "lost updates, credits_charge", ours_lost, None, "", "0",
                None if args.quick else safe,
            ),
            Figure(
                "credits", "charges/s, 100 accounts", rate["100 accounts", "credits_charge"],
                rate["100 accounts", "naive read-modify-write"], "naive read-modify-write", "",
                None,
            ),
        ],
    )  # fmt: skip
    # Lost updates (wrong answers) fail any run; the rate goal a full one with --strict.
    sys.exit(0 if safe and (args.quick or ratio_met or not args.strict) else 1)


if __name__ == "__main__":
    main()
