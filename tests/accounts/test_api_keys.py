"""API keys: format, storage as a digest only, authentication rules, throttled last-use writes."""

import math
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account, ApiKey
from accounts.services import (
    api_key_authenticate,
    api_key_digest,
    api_key_issue,
    api_key_revoke,
)
from core.errors import InvalidApiKey, NotFound

pytestmark = pytest.mark.django_db


def test_key_format_is_nk_live_and_256_bits_of_base62(account: Account) -> None:
    _key, raw = api_key_issue(account=account, name="k")
    assert re.fullmatch(r"nk_live_[0-9A-Za-z]{43}", raw)
    assert 43 * math.log2(62) >= 256


def test_keys_are_unique(account: Account) -> None:
    raws = {api_key_issue(account=account, name=str(i))[1] for i in range(50)}
    assert len(raws) == 50


def test_only_a_sha256_digest_and_a_short_prefix_are_stored(account: Account) -> None:
    key, raw = api_key_issue(account=account, name="k")
    key.refresh_from_db()
    assert key.digest == api_key_digest(raw) and len(key.digest) == 64
    assert raw.startswith(key.prefix) and len(key.prefix) == len("nk_live_") + 6


def test_the_plaintext_key_is_nowhere_in_the_database(account: Account) -> None:
    _key, raw = api_key_issue(account=account, name="k")
    secret = raw.removeprefix("nk_live_")
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT * FROM {quoted}")  # noqa: S608 (table names from the schema)
            for row in cursor.fetchall():
                assert secret not in repr(row), f"plaintext key found in {table}"
                # The displayed prefix is stored; anything past it is not.
                assert secret[6:16] not in repr(row), f"key material found in {table}"


def test_authenticate_returns_the_key_with_its_account(account: Account) -> None:
    key, raw = api_key_issue(account=account, name="k")
    assert api_key_authenticate(raw_key=raw) == key
    assert api_key_authenticate(raw_key=raw).account == account


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda key: setattr(key, "revoked_at", timezone.now()), "revoked"),
        (lambda key: setattr(key, "expires_at", timezone.now() - timedelta(1)), "expired"),
    ],
)
def test_revoked_or_expired_keys_fail(account: Account, mutate, reason: str) -> None:
    key, raw = api_key_issue(account=account, name="k")
    mutate(key)
    key.save()
    with pytest.raises(InvalidApiKey) as error:
        api_key_authenticate(raw_key=raw)
    assert reason in str(error.value.details)


def test_last_used_is_written_once_per_minute(account: Account) -> None:
    _key, raw = api_key_issue(account=account, name="k")
    api_key_authenticate(raw_key=raw)
    first = ApiKey.objects.for_account(account).get().last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as queries:
        api_key_authenticate(raw_key=raw)
    assert not [
        q for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("UPDATE")
    ]
    assert len(queries) == 1  # the one indexed lookup
    assert ApiKey.objects.for_account(account).get().last_used_at == first


def test_last_used_is_refreshed_after_the_window(account: Account) -> None:
    key, raw = api_key_issue(account=account, name="k")
    stale = timezone.now() - timedelta(seconds=61)
    ApiKey.objects.for_account(account).filter(pk=key.pk).update(last_used_at=stale)
    api_key_authenticate(raw_key=raw)
    assert ApiKey.objects.for_account(account).get().last_used_at > stale


def test_revoke_is_idempotent_and_keeps_the_first_time(account: Account) -> None:
    key, _raw = api_key_issue(account=account, name="k")
    first = api_key_revoke(account=account, key_id=key.pk).revoked_at
    assert api_key_revoke(account=account, key_id=key.pk).revoked_at == first


def test_an_account_cannot_revoke_another_accounts_key(make_user) -> None:
    from accounts.services import user_personal_account_ensure

    a = user_personal_account_ensure(user=make_user())
    b = user_personal_account_ensure(user=make_user())
    key_b, raw_b = api_key_issue(account=b, name="b")
    with pytest.raises(NotFound):
        api_key_revoke(account=a, key_id=key_b.pk)
    assert api_key_authenticate(raw_key=raw_b) == key_b
