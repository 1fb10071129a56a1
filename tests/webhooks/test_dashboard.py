"""The /webhooks dashboard page: endpoints with their secrets, add and delete, recent deliveries
with a redeliver button; only the signed-in user's account."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Account, User
from accounts.services import user_personal_account_ensure
from core.errors import ProcessingError
from imaging.services import task_fail
from tests.webhooks.conftest import Receiver, processing_task
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import webhook_endpoint_create
from webhooks.signing import webhook_endpoint_secret

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def page(client: Client) -> str:
    response = client.get(reverse("webhooks"))
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_needs_a_login(client: Client) -> None:
    response = client.get(reverse("webhooks"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_the_empty_page_offers_the_add_form_and_is_in_the_nav(signed_in: Client) -> None:
    html = page(signed_in)
    assert "No webhook endpoints yet." in html and "No deliveries yet." in html
    assert f'action="{reverse("webhook_endpoint_create")}"' in html
    assert f'href="{reverse("webhooks")}" aria-current="page"' in html


def test_an_endpoint_shows_its_secret_with_a_copy_button(
    signed_in: Client, account: Account, receiver: Receiver
) -> None:
    endpoint = webhook_endpoint_create(account=account, url=receiver.url, description="orders")
    html = page(signed_in)
    row = re.search(rf'<tr id="endpoint-{endpoint.public_id}">.*?</tr>', html, re.S).group(0)
    assert receiver.url in row and "orders" in row
    assert f'value="{webhook_endpoint_secret(endpoint=endpoint)}"' in row
    assert f'data-copy="#secret-{endpoint.public_id}"' in row
    assert reverse("webhook_endpoint_delete", args=[endpoint.public_id]) in row
    assert "data-confirm=" in row


def test_adding_an_endpoint(signed_in: Client, account: Account) -> None:
    response = signed_in.post(
        reverse("webhook_endpoint_create"),
        {"url": "https://1.1.1.1/hooks", "description": "prod"},
        follow=True,
    )
    assert response.status_code == 200
    assert "Webhook endpoint added." in response.content.decode()
    endpoint = WebhookEndpoint.objects.for_account(account).get()
    assert (endpoint.url, endpoint.description) == ("https://1.1.1.1/hooks", "prod")


def test_a_private_url_is_refused_on_the_form(signed_in: Client, account: Account) -> None:
    response = signed_in.post(reverse("webhook_endpoint_create"), {"url": "http://10.1.2.3/x"})
    assert response.status_code == 400
    assert "The URL points to an address that is not public." in response.content.decode()
    assert not WebhookEndpoint.objects.for_account(account).exists()


def test_deleting_an_endpoint(signed_in: Client, account: Account, receiver: Receiver) -> None:
    endpoint = webhook_endpoint_create(account=account, url=receiver.url)
    response = signed_in.post(
        reverse("webhook_endpoint_delete", args=[endpoint.public_id]), follow=True
    )
    assert "Webhook endpoint deleted." in response.content.decode()
    assert not WebhookEndpoint.objects.for_account(account).exists()


def test_nobody_deletes_another_accounts_endpoint(
    signed_in: Client, make_user, receiver: Receiver
) -> None:
    other = user_personal_account_ensure(user=make_user())
    theirs = webhook_endpoint_create(account=other, url=receiver.url)
    response = signed_in.post(reverse("webhook_endpoint_delete", args=[theirs.public_id]))
    assert response.status_code == 404
    assert WebhookEndpoint.objects.for_account(other).filter(pk=theirs.pk).exists()
    assert theirs.url not in page(signed_in)


def test_recent_deliveries_are_listed_and_can_be_redelivered(
    signed_in: Client,
    account: Account,
    endpoint: WebhookEndpoint,
    django_capture_on_commit_callbacks,
) -> None:
    task = processing_task(account)
    with django_capture_on_commit_callbacks(execute=True):
        task_fail(task_id=task.pk, error=ProcessingError("x"))
    delivery = WebhookDelivery.objects.for_account(account).get()
    WebhookDelivery.objects.for_account(account).update(
        status="failed", attempts=8, last_status_code=500, last_error="HTTP 500"
    )
    html = page(signed_in)
    row = re.search(rf'<tr id="delivery-{delivery.public_id}">.*?</tr>', html, re.S).group(0)
    assert task.public_id in row and "task.failed" in row and "HTTP 500" in row
    assert "Failed" in row and ">8<" in row
    redeliver = reverse("webhook_redeliver", args=[delivery.public_id])
    assert f'action="{redeliver}"' in row
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(redeliver, follow=True)
    assert f"Delivery {delivery.public_id} queued again." in response.content.decode()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 0)


def test_an_endpoint_is_switched_off_and_on_and_shows_why_it_was_switched_off(
    signed_in: Client, account: Account, receiver: Receiver
) -> None:
    endpoint = webhook_endpoint_create(account=account, url=receiver.url)
    switch = reverse("webhook_endpoint_switch", args=[endpoint.public_id])
    assert f'action="{switch}"' in page(signed_in)
    signed_in.post(switch, {"is_active": "0"})
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    reason = "Switched off on 2026-11-24: every delivery failed for 3 days (last error: HTTP 500)"
    WebhookEndpoint.unscoped_objects.filter(pk=endpoint.pk).update(disabled_reason=reason)
    assert reason in page(signed_in)
    response = signed_in.post(switch, {"is_active": "1"}, follow=True)
    assert "Webhook endpoint switched on." in response.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.disabled_reason == ""


def test_rotating_the_secret_shows_the_new_one(
    signed_in: Client, account: Account, receiver: Receiver
) -> None:
    endpoint = webhook_endpoint_create(account=account, url=receiver.url)
    old = webhook_endpoint_secret(endpoint=endpoint)
    response = signed_in.post(
        reverse("webhook_endpoint_rotate", args=[endpoint.public_id]), follow=True
    )
    endpoint.refresh_from_db()
    new = webhook_endpoint_secret(endpoint=endpoint)
    html = response.content.decode()
    assert new != old and new in html and old not in html


def test_nobody_switches_or_rotates_another_accounts_endpoint(
    signed_in: Client, make_user, receiver: Receiver
) -> None:
    other = user_personal_account_ensure(user=make_user())
    theirs = webhook_endpoint_create(account=other, url=receiver.url)
    for name in ("webhook_endpoint_switch", "webhook_endpoint_rotate"):
        assert signed_in.post(reverse(name, args=[theirs.public_id])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.is_active and not theirs.previous_secret_salt
