"""Tenant scoping fails closed, sign-up makes a personal account, and A never reads B."""

import pytest

from accounts.models import Account, ApiKey, Membership
from accounts.scoping import TenantScopeError
from accounts.selectors import api_key_list
from accounts.services import api_key_issue, user_create, user_personal_account_ensure
from billing.models import CreditLedgerEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_tenants(make_user) -> tuple[Account, Account]:
    a = user_personal_account_ensure(user=make_user())
    b = user_personal_account_ensure(user=make_user())
    for account in (a, b):
        api_key_issue(account=account, name=f"key of {account.pk}")
    return a, b


@pytest.mark.parametrize("model", [ApiKey, CreditLedgerEntry])
def test_unscoped_queries_raise(model, two_tenants) -> None:
    with pytest.raises(TenantScopeError):
        model.objects.all()
    with pytest.raises(TenantScopeError):
        model.objects.filter(pk=1)
    with pytest.raises(TenantScopeError):
        model.objects.count()


def test_scoping_to_nothing_raises() -> None:
    with pytest.raises(TenantScopeError):
        ApiKey.objects.for_account(None)
    with pytest.raises(TenantScopeError):
        ApiKey.objects.for_account(Account(name="unsaved"))


def test_creating_a_tenant_row_requires_its_account() -> None:
    with pytest.raises(TenantScopeError):
        ApiKey.objects.create(name="orphan", prefix="x", digest="0" * 64)


@pytest.mark.parametrize("model", [ApiKey, CreditLedgerEntry])
def test_a_never_reads_b(model, two_tenants) -> None:
    a, b = two_tenants
    rows_a = list(model.objects.for_account(a))
    rows_b = list(model.objects.for_account(b))
    assert rows_a and rows_b
    assert {row.account_id for row in rows_a} == {a.pk}
    assert {row.account_id for row in rows_b} == {b.pk}
    assert not model.objects.for_account(a).filter(pk__in=[r.pk for r in rows_b]).exists()


def test_key_listing_shows_only_the_accounts_keys(two_tenants) -> None:
    a, b = two_tenants
    assert [k.account_id for k in api_key_list(account=a)] == [a.pk]
    assert [k.account_id for k in api_key_list(account=b)] == [b.pk]


def test_a_new_user_owns_a_personal_account() -> None:
    user = user_create(email="New@Example.com", password="s3cret-passphrase")
    assert user.email == "new@example.com"
    membership = Membership.objects.get(user=user)
    assert membership.role == Membership.Role.OWNER
    assert membership.account.is_personal
    assert user_personal_account_ensure(user=user) == membership.account


def test_a_new_account_gets_the_free_plan_and_a_ledgered_allowance() -> None:
    user = user_create(email="free@example.com")
    account = user_personal_account_ensure(user=user)
    account.refresh_from_db()
    assert account.subscription.plan.code == "free"
    entries = list(CreditLedgerEntry.objects.for_account(account))
    assert [(e.kind, e.amount, e.balance_after) for e in entries] == [("grant", 50, 50)]
    assert account.credit_balance == 50
