"""Staff see endpoints and deliveries read-only, and can queue deliveries again."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Account, User
from core.errors import ProcessingError
from imaging.services import task_fail
from tests.webhooks.conftest import processing_task
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client: Client) -> Client:
    admin = User.objects.create_superuser(email="staff@example.com", password="x")
    client.force_login(admin)
    return client


@pytest.fixture
def delivery(
    account: Account, endpoint: WebhookEndpoint, django_capture_on_commit_callbacks
) -> WebhookDelivery:
    with django_capture_on_commit_callbacks(execute=True):
        task_fail(task_id=processing_task(account).pk, error=ProcessingError("x"))
    WebhookDelivery.objects.for_account(account).update(status="failed", attempts=8)
    return WebhookDelivery.objects.for_account(account).get()


def test_the_lists_and_detail_pages_render(
    staff: Client, endpoint: WebhookEndpoint, delivery: WebhookDelivery
) -> None:
    for name in ("webhooks_webhookendpoint", "webhooks_webhookdelivery"):
        response = staff.get(reverse(f"admin:{name}_changelist"))
        assert response.status_code == 200
    html = staff.get(reverse("admin:webhooks_webhookdelivery_change", args=[delivery.pk]))
    assert html.status_code == 200 and delivery.public_id in html.content.decode()
    page = staff.get(reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk]))
    assert page.status_code == 200 and endpoint.secret_salt not in page.content.decode()
    assert staff.get(reverse("admin:webhooks_webhookdelivery_add")).status_code == 403


def test_the_redeliver_action_queues_a_fresh_series(
    staff: Client, delivery: WebhookDelivery, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(
            reverse("admin:webhooks_webhookdelivery_changelist"),
            {"action": "redeliver", "_selected_action": [delivery.pk]},
            follow=True,
        )
    assert "1 delivery(ies) queued again." in response.content.decode()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 0)
