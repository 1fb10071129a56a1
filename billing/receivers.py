"""billing's reactions to events announced by lower layers."""

from accounts.models import Account
from billing.services import account_billing_open


def on_account_created(*, account: Account, **_: object) -> None:
    account_billing_open(account=account)
