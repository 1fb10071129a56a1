"""/dashboard: what the account has, has spent and has run, from the same selectors the API uses,
rendered on the server (the chart is SVG, its figures also a table), in English and Chinese."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from accounts.models import Account, User
from accounts.services import user_personal_account_ensure
from billing.services import credits_charge
from core.errors import ProcessingError
from core.operations import Operation
from imaging.models import Task
from imaging.services import TaskInput, task_fail, task_submit

pytestmark = pytest.mark.django_db


def png_data_url() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 120, 40)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


PNG_DATA_URL = png_data_url()


def submit(account: Account, operation: Operation = Operation.ENHANCE, days_ago: int = 0) -> Task:
    task = task_submit(
        account=account,
        operation=operation,
        task_input=TaskInput(params={}, images=(Image.new("RGB", (32, 24), (200, 120, 40)),)),
    )
    if days_ago:
        Task.unscoped_objects.filter(pk=task.pk).update(
            created_at=timezone.now() - timedelta(days=days_ago)
        )
    return task


@pytest.fixture
def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def page(client: Client, **headers: str) -> str:
    response = client.get(reverse("dashboard"), **headers)
    assert response.status_code == 200
    return response.content.decode()


def test_it_needs_a_login(client: Client) -> None:
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302 and reverse("account_login") in response["Location"]


def test_a_new_account_sees_its_plan_credits_limits_and_first_steps(signed_in: Client) -> None:
    html = page(signed_in)
    assert re.search(r'id="balance">50\b', html)  # the Free plan's credits
    assert 'id="plan">Free' in html
    assert re.search(r'id="requests-day">0 of 50<', html)
    assert re.search(r'id="requests-minute">0 of 2 this minute<', html)
    assert 'id="no-usage"' in html and 'id="credits-warning"' not in html
    assert '<svg class="chart" id="usage-chart"' in html and "<rect" not in html


def test_usage_per_operation_over_30_days_counts_spent_credits_only(
    signed_in: Client, account: Account
) -> None:
    submit(account)  # enhance, 4 credits
    submit(account, days_ago=3)
    submit(account, Operation.REMOVE_BACKGROUND, days_ago=10)  # 3 credits
    failed = submit(account, Operation.REMOVE_BACKGROUND)
    task_fail(task_id=failed.pk, error=ProcessingError("boom"))  # refunded: no credits spent
    submit(account, days_ago=45)  # outside the window
    html = page(signed_in)
    table = html[html.index('id="usage-table"') :]
    rows = re.findall(r"</svg>([^<]+)</td><td>(\d+)</td><td>(\d+)</td>", table)
    assert rows == [("Background removal", "2", "3"), ("Enhance", "2", "8")]
    chart = html[html.index('id="usage-chart"') : html.index("</svg>")]
    assert chart.count("<rect ") == 3  # one bar segment per day and operation
    assert "Credits per day over the last 30 days: 11 credits, 4 tasks" in html
    recent = html[html.index('id="recent-tasks"') :]
    assert failed.public_id in recent and recent.count("<code>task_") == 5


def test_a_warning_once_80_percent_of_the_periods_credits_are_used(
    signed_in: Client, account: Account
) -> None:
    credits_charge(account=account, cost=39, idempotency_key="spend-39")
    assert 'id="credits-warning"' not in page(signed_in)  # 78%
    credits_charge(account=account, cost=1, idempotency_key="spend-1")
    html = page(signed_in)
    assert 'id="credits-warning"' in html and "more than 80%" in html


def test_requests_counted_by_the_rate_limiter_show(
    signed_in: Client, account: Account, raw_key: str
) -> None:
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    for _ in range(2):
        api.post("/v1/enhance", {"enhancement_type": "bogus"}, content_type="application/json")
    html = page(signed_in)
    assert re.search(r'id="requests-day">2 of 50<', html)
    assert re.search(r'id="requests-minute">2 of 2 this minute<', html)


def test_another_accounts_tasks_never_show(
    signed_in: Client, account: Account, make_user: Callable[..., User]
) -> None:
    other = user_personal_account_ensure(user=make_user(email="bob@example.com"))
    theirs = submit(other)
    mine = submit(account)
    html = page(signed_in)
    assert mine.public_id in html and theirs.public_id not in html
    assert re.search(r'id="balance">46\b', html)


def test_the_page_in_chinese(signed_in: Client, account: Account) -> None:
    submit(account)
    html = page(signed_in, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "控制台" in html and "最近的任务" in html and "增强" in html


def test_spend_per_api_key_names_the_key_that_made_each_request(
    signed_in: Client, account: Account, raw_key: str
) -> None:
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}", HTTP_PREFER="respond-async")
    body = {"image_url": PNG_DATA_URL, "enhancement_type": "color"}
    answer = api.post("/v1/enhance", body, content_type="application/json")
    assert answer.status_code == 202, answer.content
    task = Task.objects.for_account(account).get(public_id=answer.json()["task_id"])
    assert (task.source, task.api_key.name) == ("api", "test")
    html = page(signed_in)
    spend = html[html.index('id="spend-by-key"') :]
    assert re.search(rf"test <code>{re.escape(raw_key[:14])}…</code></td><td>1</td><td>4<", spend)
