"""The API key lookup (compiled once, core/prepared.py) gives what the ORM queryset gives."""

import pytest

from accounts.models import Account, ApiKey
from accounts.selectors import api_key_get_by_digest
from accounts.services import api_key_issue
from billing.models import Subscription
from billing.selectors import account_plan

pytestmark = pytest.mark.django_db


def orm_lookup(digest: str) -> ApiKey:
    return ApiKey.unscoped_objects.select_related("account__subscription__plan").get(digest=digest)


def test_the_key_comes_with_its_account_subscription_and_plan(
    account: Account, django_assert_num_queries
) -> None:
    key, _raw = api_key_issue(account=account, name="香蕉 key")
    with django_assert_num_queries(1):
        found = api_key_get_by_digest(digest=key.digest)
        assert found is not None
        plan = account_plan(account=found.account)  # no query: it came along
    expected = orm_lookup(key.digest)
    for model_of, got, want in [
        (ApiKey, found, expected),
        (Account, found.account, expected.account),
        (Subscription, found.account.subscription, expected.account.subscription),
    ]:
        for field in model_of._meta.concrete_fields:
            assert getattr(got, field.attname) == getattr(want, field.attname), field.name
    assert plan == expected.account.subscription.plan and plan.code == "free"
    assert found.name == "香蕉 key" and not found._state.adding


def test_an_unknown_digest_is_none(account: Account) -> None:
    api_key_issue(account=account, name="k")
    assert api_key_get_by_digest(digest="0" * 64) is None


def test_an_account_without_a_subscription_row_is_on_the_free_plan(account: Account) -> None:
    key, _raw = api_key_issue(account=account, name="k")
    Subscription.objects.filter(account=account).delete()
    found = api_key_get_by_digest(digest=key.digest)
    assert found is not None and Account.subscription.is_cached(found.account)
    assert getattr(found.account, "subscription", None) is None
    assert account_plan(account=found.account).code == "free"
