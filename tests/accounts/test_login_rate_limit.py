"""allauth's rate limits stop password guessing against one address."""

import pytest
from allauth.account.models import EmailAddress
from django.test import Client
from django.urls import reverse

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_failed_logins_lock_the_address_even_for_the_right_password(
    client: Client, user: User
) -> None:
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    url = reverse("account_login")
    for _ in range(5):
        response = client.post(url, {"login": user.email, "password": "wrong guess"})
        assert response.status_code == 200 and "_auth_user_id" not in client.session
    response = client.post(url, {"login": user.email, "password": "correct horse battery"})
    assert "_auth_user_id" not in client.session
    assert "Too many failed login attempts" in response.content.decode()
