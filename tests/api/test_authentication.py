"""/v1 needs `Authorization: Bearer <live key>`; every other case is 401 INVALID_API_KEY."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Account, ApiKey
from accounts.services import api_key_issue, api_key_revoke

pytestmark = pytest.mark.django_db


def get_account(client: APIClient, authorization: str | None):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    return client.get("/v1/account", **headers)


def assert_invalid_api_key(response, details: str) -> None:
    assert response.status_code == 401
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "INVALID_API_KEY"
    assert body["error"]["details"] == details
    assert body["request_id"] == response["X-Request-ID"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_live_key_is_accepted(api_client: APIClient, raw_key: str) -> None:
    assert get_account(api_client, f"Bearer {raw_key}").status_code == 200


def test_the_scheme_is_case_insensitive(api_client: APIClient, raw_key: str) -> None:
    assert get_account(api_client, f"bearer {raw_key}").status_code == 200


def test_missing_header(api_client: APIClient) -> None:
    assert_invalid_api_key(
        get_account(api_client, None),
        "Missing API key: send the header 'Authorization: Bearer <API key>'",
    )


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token nk_live_x"])
def test_wrong_scheme_or_no_token(api_client: APIClient, header: str) -> None:
    assert_invalid_api_key(
        get_account(api_client, header), "The Authorization header must be 'Bearer <API key>'"
    )


@pytest.mark.parametrize(
    "token",
    [
        "nk_live_tooshort",
        "nk_test_" + "a" * 43,
        "nk_live_" + "a" * 42 + "!",
        "nk_live_" + "a" * 44,
        "sk_live_" + "a" * 43,
        "nk_live_" + "é" * 43,
    ],
)
def test_malformed_key(api_client: APIClient, token: str) -> None:
    assert_invalid_api_key(get_account(api_client, f"Bearer {token}"), "The API key is malformed")


def test_unknown_key(api_client: APIClient, raw_key: str) -> None:
    forged = raw_key[:-1] + ("A" if raw_key[-1] != "A" else "B")
    assert_invalid_api_key(
        get_account(api_client, f"Bearer {forged}"), "The API key does not exist"
    )


def test_revoked_key(api_client: APIClient, account: Account, raw_key: str) -> None:
    key = ApiKey.objects.for_account(account).get()
    api_key_revoke(account=account, key_id=key.pk)
    assert_invalid_api_key(
        get_account(api_client, f"Bearer {raw_key}"), "The API key has been revoked"
    )


def test_expired_key(api_client: APIClient, account: Account) -> None:
    _key, raw = api_key_issue(
        account=account, name="old", expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert_invalid_api_key(get_account(api_client, f"Bearer {raw}"), "The API key has expired")


def test_a_key_that_expires_later_still_works(api_client: APIClient, account: Account) -> None:
    _key, raw = api_key_issue(
        account=account, name="soon", expires_at=timezone.now() + timedelta(minutes=5)
    )
    assert get_account(api_client, f"Bearer {raw}").status_code == 200


def test_key_of_a_suspended_account(api_client: APIClient, account: Account, raw_key: str) -> None:
    Account.objects.filter(pk=account.pk).update(is_active=False)
    assert_invalid_api_key(
        get_account(api_client, f"Bearer {raw_key}"), "The account of this API key is suspended"
    )


def test_session_login_does_not_authenticate_the_api(api_client: APIClient, user) -> None:
    api_client.force_login(user)
    assert get_account(api_client, None).status_code == 401


def test_openapi_schema_is_public(api_client: APIClient) -> None:
    response = api_client.get("/v1/openapi.json")
    assert response.status_code == 200
    assert "/v1/account" in response.json()["paths"]
