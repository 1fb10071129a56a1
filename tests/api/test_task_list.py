"""GET /v1/tasks: the caller's tasks newest first, cursor-paginated and filtered, each as
GET /v1/task/{id}, another tenant's never; on PostgreSQL a page is one index range scan."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Account
from billing.services import credits_set_balance
from core.errors import ProcessingError
from core.operations import Operation
from imaging.models import Task
from imaging.selectors import tasks_page
from imaging.services import TaskInput, task_fail, task_submit
from tests.conftest import require_postgres

pytestmark = pytest.mark.django_db


def submit(account: Account, operation: Operation = Operation.TEXT_TO_IMAGE) -> Task:
    return task_submit(account=account, operation=operation, task_input=TaskInput(params={}))


@pytest.fixture
def funded(account: Account) -> Account:
    credits_set_balance(account=account, balance=500, kind="adjustment", idempotency_key="fund")
    return account


def page(client: APIClient, **query: object) -> dict:
    response = client.get("/v1/tasks", query)
    assert response.status_code == 200, response.content
    return response.json()


def test_pages_walk_every_task_newest_first_once(authed_client: APIClient, funded: Account) -> None:
    made = [submit(funded).public_id for _ in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        body = page(authed_client, limit=3, **({"starting_after": cursor} if cursor else {}))
        seen += [item["task_id"] for item in body["data"]]
        pages += 1
        if not body["has_more"]:
            break
        cursor = body["data"][-1]["task_id"]
    assert seen == made[::-1]
    assert pages == 3


def test_items_are_as_get_task_shows_them(authed_client: APIClient, funded: Account) -> None:
    task = submit(funded)
    (item,) = page(authed_client)["data"]
    assert item == authed_client.get(f"/v1/task/{task.public_id}").json()


def test_filters_by_status_operation_and_creation_time(
    authed_client: APIClient, funded: Account
) -> None:
    old = submit(funded, Operation.ENHANCE)
    Task.objects.for_account(funded).filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=3)
    )
    failed = submit(funded)
    task_fail(task_id=failed.pk, error=ProcessingError("boom"))
    pending = submit(funded)

    def ids(**query: object) -> list[str]:
        return [item["task_id"] for item in page(authed_client, **query)["data"]]

    assert ids(status="failed") == [failed.public_id]
    assert ids(status="pending") == [pending.public_id, old.public_id]
    assert ids(operation="enhance") == [old.public_id]
    yesterday = (timezone.now() - timedelta(days=1)).isoformat()
    assert ids(created_before=yesterday) == [old.public_id]
    assert ids(created_after=yesterday, status="pending") == [pending.public_id]


def test_another_tenants_tasks_are_never_listed(
    authed_client: APIClient, other_client: APIClient, funded: Account
) -> None:
    task = submit(funded)
    assert page(other_client) == {"data": [], "has_more": False}
    # Nor can its id serve as another tenant's cursor.
    response = other_client.get("/v1/tasks", {"starting_after": task.public_id})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_REQUEST"


@pytest.mark.parametrize(
    "query",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "many"},
        {"status": "lost"},
        {"operation": "paint"},
        {"created_after": "yesterday"},
        {"starting_after": "task_missing"},
    ],
)
def test_bad_queries_are_400_naming_the_parameter(
    authed_client: APIClient, query: dict[str, object]
) -> None:
    response = authed_client.get("/v1/tasks", query)
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == "INVALID_REQUEST"
    assert next(iter(query)) in body["error"]["details"]


def test_the_list_is_in_the_openapi_schema(api_client: APIClient) -> None:
    operation = api_client.get("/v1/openapi.json").json()["paths"]["/v1/tasks"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"limit", "starting_after", "status", "operation", "created_after"} <= names
    assert operation["operationId"] == "task_list"


def test_a_page_is_one_index_range_scan_on_postgresql(funded: Account) -> None:
    require_postgres("the task list's query plan")
    # Many tenants working at the same time, this one a few percent of the table.
    others = Account.objects.bulk_create(Account(name=f"tenant {n}") for n in range(20))
    operations = [Operation.ENHANCE, Operation.TEXT_TO_IMAGE]
    Task.unscoped_objects.bulk_create(
        Task(account=owner, operation=operations[n % 2], status="completed", queue="cpu")
        for n in range(3000)
        for owner in [funded, *others]
    )
    cursor = Task.objects.for_account(funded).order_by("-created_at", "-pk")[1500]
    with connection.cursor() as db:
        db.execute("ANALYZE imaging_task")
    for filters in ({}, {"status": "completed"}, {"operation": "enhance"}):
        plan = page_plan(account=funded, starting_after=cursor.public_id, **filters)
        assert "Index Scan Backward" in plan or "Index Only Scan Backward" in plan, plan
        assert "Sort" not in plan and "Seq Scan" not in plan, plan
        # The cursor bounds the index range itself: the scan starts there, whatever lies above.
        assert "Index Cond: ((account_id = " in plan and "ROW(created_at, id) < ROW(" in plan, plan


def page_plan(**kwargs: object) -> str:
    """PostgreSQL's plan for the page query `tasks_page` runs (its last query)."""
    with CaptureQueriesContext(connection) as captured:
        tasks_page(limit=20, **kwargs)
    with connection.cursor() as db:
        db.execute("EXPLAIN " + captured.captured_queries[-1]["sql"])
        return "\n".join(row[0] for row in db.fetchall())
