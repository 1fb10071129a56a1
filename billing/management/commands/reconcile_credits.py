"""`manage.py reconcile_credits`: recompute every balance from the ledger and report drift."""

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from billing.selectors import credits_drift


class Command(BaseCommand):
    help = "Compare each account's balance with the sum of its ledger; exit 1 on any drift."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--account", type=int, help="only this account id")

    def handle(self, *args: object, **options: Any) -> None:
        drifts = credits_drift(account_id=options["account"])
        for drift in drifts:
            self.stdout.write(
                f"account {drift.account_id}: balance {drift.balance}, "
                f"ledger {drift.ledger_total}, drift {drift.balance - drift.ledger_total:+d}"
            )
        self.stdout.write(f"{len(drifts)} account(s) with drift")
        if drifts:
            raise CommandError("credit balances drifted from the ledger")
