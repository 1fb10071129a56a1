"""Monthly renewal of staff-granted plans: no roll-over, usage resets, idempotent, catches up."""

from datetime import timedelta

import pytest

from accounts.models import Account
from billing.models import CreditLedgerEntry
from billing.selectors import account_billing_summary, plan_get
from billing.services import credits_charge, subscription_set_plan, subscriptions_renew_due
from billing.tasks import billing_renewals

pytestmark = pytest.mark.django_db


@pytest.fixture
def basic(account: Account):
    return subscription_set_plan(account=account, plan=plan_get(code="basic"))


def renewals(account: Account) -> int:
    return CreditLedgerEntry.objects.for_account(account).filter(kind="renewal").count()


def test_a_new_period_resets_balance_and_usage(account: Account, basic) -> None:
    credits_charge(account=account, cost=8, idempotency_key="task_1")
    assert account_billing_summary(account=account).used_this_month == 8
    next_month = basic.current_period_end + timedelta(minutes=1)

    assert subscriptions_renew_due(now=next_month) == 1

    summary = account_billing_summary(account=account)
    assert summary.balance == 500  # unused credits do not roll over
    assert summary.last_renewed == basic.current_period_end
    basic.refresh_from_db()
    assert basic.current_period_start == summary.last_renewed


def test_renewing_twice_starts_one_period(account: Account, basic) -> None:
    next_month = basic.current_period_end + timedelta(minutes=1)
    subscriptions_renew_due(now=next_month)
    assert subscriptions_renew_due(now=next_month) == 0
    assert renewals(account) == 2  # the plan's first period and this one


def test_nothing_is_due_before_the_period_ends(account: Account, basic) -> None:
    assert subscriptions_renew_due(now=basic.current_period_end - timedelta(seconds=1)) == 0


def test_missed_periods_catch_up_one_by_one(account: Account, basic) -> None:
    assert subscriptions_renew_due(now=basic.current_period_end + timedelta(days=65)) == 3
    assert renewals(account) == 4


def test_free_accounts_are_not_renewed(account: Account) -> None:
    assert subscriptions_renew_due() == 0


def test_the_beat_task_runs_both_sweeps(account: Account, basic) -> None:
    assert billing_renewals() == {"staff_periods_started": 0, "stripe_subscriptions_refreshed": 0}
