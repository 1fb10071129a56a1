"""`manage.py issue_api_key`: the ops shortcut to a working key (lives in billing: it sets plans).

Creates the user and personal account when missing, optionally puts the account on a plan and sets
its balance, and prints the new key alone on the last line of stdout.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any
from uuid import uuid4

from allauth.account.models import EmailAddress
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction

from accounts.models import User
from accounts.services import api_key_issue, user_create, user_personal_account_ensure
from billing.models import CreditLedgerEntry
from billing.selectors import plan_get
from billing.services import credits_set_balance, subscription_set_plan
from core.errors import InvalidRequest


class Command(BaseCommand):
    help = "Issue an API key for EMAIL (creating the user and account when missing)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--plan", choices=["free", "basic", "pro", "max"])
        parser.add_argument("--credits", type=int, help="set the balance to exactly N")
        parser.add_argument("--name", default="CLI key")

    @transaction.atomic
    def handle(self, *args: object, **options: Any) -> None:
        email = str(options["email"]).strip().lower()
        try:
            validate_email(email)
        except ValidationError as error:
            raise CommandError(f"invalid --email: {email!r}") from error
        credits = options["credits"]
        if credits is not None and credits < 0:
            raise CommandError("--credits must be ≥ 0")

        user = User.objects.filter(email=email).first()
        if user is None:
            user = user_create(email=email)  # no usable password: sets one via password reset
            # An operator vouches for the address; the dashboard still asks for a password.
            EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
            self.stderr.write(f"created user {email}")
        account = user_personal_account_ensure(user=user)

        if options["plan"]:
            try:
                plan = plan_get(code=str(options["plan"]))
            except InvalidRequest as error:
                raise CommandError(str(error)) from error
            subscription_set_plan(account=account, plan=plan, reason="issue_api_key --plan")
            self.stderr.write(f"plan set to {plan.code}")
        if credits is not None:
            credits_set_balance(
                account=account,
                balance=credits,
                kind=CreditLedgerEntry.Kind.ADJUSTMENT,
                idempotency_key=f"cli:{account.pk}:{uuid4().hex}",
                note="issue_api_key --credits",
            )
            self.stderr.write(f"balance set to {credits}")

        _api_key, raw_key = api_key_issue(
            account=account, name=str(options["name"]), created_by=user
        )
        self.stdout.write(raw_key)
