"""Staff see every task and can cancel and refund any unfinished one, running or not."""

import pytest
from django.test import Client
from django.urls import reverse
from PIL import Image

from accounts.models import Account, User
from billing.selectors import account_billing_summary
from core.operations import Operation
from imaging.models import Task
from imaging.services import ClaimResult, TaskInput, task_claim, task_submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client: Client) -> Client:
    client.force_login(User.objects.create_superuser(email="staff@example.com", password="x"))
    return client


def submit(account: Account) -> Task:
    task_input = TaskInput(params={}, images=(Image.new("RGB", (8, 8)),))
    return task_submit(account=account, operation=Operation.ENHANCE, task_input=task_input)


def test_the_task_list_and_page_render_read_only(staff: Client, account: Account) -> None:
    task = submit(account)
    listing = staff.get(reverse("admin:imaging_task_changelist"))
    assert listing.status_code == 200 and task.public_id in listing.content.decode()
    assert staff.get(reverse("admin:imaging_task_change", args=[task.pk])).status_code == 200
    assert staff.get(reverse("admin:imaging_task_add")).status_code == 403


def test_staff_cancel_and_refund_a_running_task(staff: Client, account: Account) -> None:
    task = submit(account)
    assert task_claim(task_id=task.pk, claim_id="msg-1") == ClaimResult.CLAIMED
    response = staff.post(
        reverse("admin:imaging_task_changelist"),
        {"action": "cancel_and_refund", "_selected_action": [task.pk]},
        follow=True,
    )
    assert response.status_code == 200
    task.refresh_from_db()
    assert task.status == Task.Status.CANCELLED
    assert account_billing_summary(account=account).balance == 50
