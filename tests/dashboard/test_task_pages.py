"""/tasks and /tasks/<id>: the signed-in account's task history, newest first, 25 a page,
filtered by operation, status, UTC days and API key; one task in full with its parameters,
timings, result, refund and API JSON. Another account's tasks never show, and a bad filter is
an error on the page, never a 500."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from accounts.models import Account, ApiKey, User
from accounts.selectors import account_owner
from accounts.services import api_key_issue, user_personal_account_ensure
from billing.services import credits_set_balance
from core.errors import ProcessingError
from core.operations import Operation
from imaging.models import Task
from imaging.selectors import task_detail, tasks_page
from imaging.services import TaskInput, TaskOrigin, task_complete, task_fail, task_submit
from imaging.storage import image_save
from tests.web.test_security_headers import EVENT_HANDLER, INLINE_SCRIPT, INLINE_STYLE

pytestmark = pytest.mark.django_db

ROW = re.compile(r'<tr id="row-(task_\w+)"')


def tiny_image() -> Image.Image:
    return Image.new("RGB", (32, 24), (200, 120, 40))


def submit(
    account: Account,
    operation: Operation = Operation.ENHANCE,
    *,
    params: dict | None = None,
    api_key: ApiKey | None = None,
    dashboard: bool = False,
    created_at: datetime | None = None,
) -> Task:
    if dashboard:
        origin = TaskOrigin(source=Task.Source.DASHBOARD, member=account_owner(account=account))
    else:
        origin = TaskOrigin(api_key=api_key)
    task = task_submit(
        account=account,
        operation=operation,
        task_input=TaskInput(params=params or {}, images=(tiny_image(),)),
        origin=origin,
    )
    if created_at:
        Task.unscoped_objects.filter(pk=task.pk).update(created_at=created_at)
    return task


def complete(task: Task, *, mask: bool = False) -> Task:
    """The worker's part: claimed (started), then its result stored."""
    Task.unscoped_objects.filter(pk=task.pk).update(
        status=Task.Status.PROCESSING, started_at=timezone.now()
    )
    result = image_save(folder="results", account_id=task.account_id, image=tiny_image())
    mask_file = image_save(folder="results", account_id=task.account_id, image=tiny_image())
    task_complete(
        task_id=task.pk,
        result_files=[result],
        mask_file=mask_file if mask else "",
        description="an orange square",
        seed=7,
        timings={"inference": 0.25, "total": 0.5},
        demo=True,
    )
    return Task.unscoped_objects.get(pk=task.pk)


def fail(task: Task) -> Task:
    task_fail(task_id=task.pk, error=ProcessingError("the model ran out of memory"))
    return Task.unscoped_objects.get(pk=task.pk)


def issue_key(account: Account, name: str) -> ApiKey:
    key, _raw = api_key_issue(account=account, name=name, created_by=account_owner(account=account))
    return key


@pytest.fixture
def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


@pytest.fixture
def funded(account: Account) -> Account:
    credits_set_balance(account=account, balance=500, kind="adjustment", idempotency_key="fund")
    return account


@pytest.fixture
def other_account(make_user: Callable[..., User]) -> Account:
    return user_personal_account_ensure(user=make_user(email="bob@example.com"))


def list_page(client: Client, expect: int = 200, **query: str) -> str:
    response = client.get(reverse("tasks"), query)
    assert response.status_code == expect, response.content[:2000]
    return response.content.decode()


def listed(client: Client, **query: str) -> list[str]:
    return ROW.findall(list_page(client, **query))


def row_html(page: str, task: Task) -> str:
    start = page.index(f'<tr id="row-{task.public_id}"')
    return page[start : page.index("</tr>", start)]


def link(page: str, link_id: str) -> str | None:
    found = re.search(rf'<a id="{link_id}"[^>]* href="([^"]+)"', page)
    return html.unescape(found.group(1)) if found else None


def detail_page(client: Client, task: Task) -> str:
    response = client.get(reverse("task_detail", args=[task.public_id]))
    assert response.status_code == 200
    return response.content.decode()


# --- /tasks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tasks", "task_detail"])
def test_both_pages_need_a_login(client: Client, account: Account, name: str) -> None:
    args = [submit(account).public_id] if name == "task_detail" else []
    response = client.get(reverse(name, args=args))
    assert response.status_code == 302 and reverse("account_login") in response["Location"]


def test_the_list_is_newest_first(signed_in: Client, account: Account) -> None:
    made = [submit(account).public_id for _ in range(3)]
    assert listed(signed_in) == made[::-1]


def test_each_row_shows_thumbnail_id_operation_status_credits_origin_and_time(
    signed_in: Client, account: Account
) -> None:
    key = issue_key(account, "production server")
    done = complete(submit(account, api_key=key))
    pending = submit(account, Operation.REMOVE_BACKGROUND, dashboard=True)
    page = list_page(signed_in)
    done_row, pending_row = (row_html(page, task) for task in (done, pending))

    thumb = re.search(r"<img [^>]+>", done_row)
    assert thumb, done_row
    assert 'loading="lazy"' in thumb[0] and 'width="48"' in thumb[0] and 'height="48"' in thumb[0]
    assert f'alt="Result of {done.public_id}"' in thumb[0]
    assert "/files/" in thumb[0]  # a signed link of the app's own
    assert f'href="{reverse("task_detail", args=[done.public_id])}"' in done_row
    assert ">Enhance<" in done_row and ">Completed<" in done_row and "<td>4</td>" in done_row
    assert "<td>production server</td>" in done_row
    assert done.created_at.strftime("%Y-%m-%d %H:%M") in done_row

    assert "<img" not in pending_row  # no result yet, no thumbnail
    assert ">Background removal<" in pending_row and ">Pending<" in pending_row
    assert "<td>3</td>" in pending_row and "<td>Dashboard</td>" in pending_row


def test_a_revoked_or_deleted_keys_tasks_still_list(signed_in: Client, account: Account) -> None:
    key = issue_key(account, "old key")
    task = submit(account, api_key=key)
    key.delete()
    page = list_page(signed_in)
    assert task.public_id in page and "<td>A deleted key</td>" in page


def test_filter_by_operation(signed_in: Client, funded: Account) -> None:
    enhance = submit(funded, Operation.ENHANCE)
    removal = submit(funded, Operation.REMOVE_BACKGROUND)
    assert listed(signed_in, operation="remove_background") == [removal.public_id]
    assert listed(signed_in, operation="enhance") == [enhance.public_id]


def test_filter_by_status(signed_in: Client, funded: Account) -> None:
    pending = submit(funded)
    failed = fail(submit(funded))
    done = complete(submit(funded))
    assert listed(signed_in, status="failed") == [failed.public_id]
    assert listed(signed_in, status="pending") == [pending.public_id]
    assert listed(signed_in, status="completed") == [done.public_id]


def test_filter_by_utc_days_includes_both_ends(signed_in: Client, funded: Account) -> None:
    def at(*moment: int) -> datetime:
        return datetime(*moment, tzinfo=UTC)

    before = submit(funded, created_at=at(2024, 2, 29, 23, 59, 59, 999999))  # the day before
    first = submit(funded, created_at=at(2024, 3, 1, 0, 0, 0))  # the first moment of the range
    middle = submit(funded, created_at=at(2024, 3, 2, 12, 0))
    last = submit(funded, created_at=at(2024, 3, 3, 23, 59, 59, 999999))  # its last moment
    later = submit(funded, created_at=at(2024, 3, 4, 0, 0, 0))  # the day after
    in_range = [last.public_id, middle.public_id, first.public_id]
    assert listed(signed_in, created_after="2024-03-01", created_before="2024-03-03") == in_range
    assert listed(signed_in, created_after="2024-03-02", created_before="2024-03-02") == [
        middle.public_id
    ]
    assert listed(signed_in, created_after="2024-03-04")[0] == later.public_id
    assert listed(signed_in, created_before="2024-02-29") == [before.public_id]
    assert listed(signed_in, created_before="2024-02-28") == []
    page = list_page(signed_in, created_after="2024-03-01")
    assert 'type="date"' in page and 'value="2024-03-01"' in page  # the form keeps its values


def test_filter_by_api_key(signed_in: Client, funded: Account) -> None:
    first, second = issue_key(funded, "first"), issue_key(funded, "second")
    by_first = [submit(funded, api_key=first).public_id for _ in range(2)]
    by_second = submit(funded, api_key=second)
    from_dashboard = submit(funded, dashboard=True)
    page = list_page(signed_in)
    assert f'<option value="{first.pk}">first ({first.prefix}…)</option>' in page
    assert listed(signed_in, api_key=str(first.pk)) == by_first[::-1]
    assert listed(signed_in, api_key=str(second.pk)) == [by_second.public_id]
    assert len(listed(signed_in)) == 4 and from_dashboard.public_id in listed(signed_in)


def test_filters_combine(signed_in: Client, funded: Account) -> None:
    key = issue_key(funded, "k")
    wanted = fail(submit(funded, Operation.REMOVE_BACKGROUND, api_key=key))
    fail(submit(funded, Operation.ENHANCE, api_key=key))
    submit(funded, Operation.REMOVE_BACKGROUND, api_key=key)
    fail(submit(funded, Operation.REMOVE_BACKGROUND))
    query = {"operation": "remove_background", "status": "failed", "api_key": str(key.pk)}
    assert listed(signed_in, **query) == [wanted.public_id]


def test_the_selector_filters_by_api_key(funded: Account, other_account: Account) -> None:
    key = issue_key(funded, "k")
    theirs = issue_key(other_account, "theirs")
    mine = submit(funded, api_key=key)
    submit(funded)
    submit(other_account, api_key=theirs)
    assert tasks_page(account=funded, api_key_id=key.pk).tasks == [mine]
    assert tasks_page(account=funded, api_key_id=theirs.pk).tasks == []
    assert len(tasks_page(account=funded).tasks) == 2  # no filter: unchanged


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"status": "exploded"}, "Select a valid choice"),
        ({"operation": "paint"}, "Select a valid choice"),
        ({"created_after": "yesterday"}, "Enter a valid date"),
        ({"created_before": "2024-02-30"}, "Enter a valid date"),
        ({"created_after": "2024-03-02", "created_before": "2024-03-01"}, "start date is after"),
        ({"api_key": "abc"}, "Select a valid choice"),
        ({"api_key": "999999"}, "Select a valid choice"),
        ({"starting_after": "task_doesnotexist"}, "page link is not valid"),
    ],
)
def test_an_invalid_filter_is_a_400_with_the_error_on_the_form(
    signed_in: Client, account: Account, query: dict, message: str
) -> None:
    task = submit(account)
    page = list_page(signed_in, expect=400, **query)
    assert 'id="filter-error"' in page and 'role="alert"' in page
    assert message in html.unescape(page)
    assert 'id="task-filters"' in page  # the form is there to correct
    assert task.public_id not in page  # and no list that ignores what was asked


def test_the_widest_dates_a_date_input_takes_are_no_error(
    signed_in: Client, account: Account
) -> None:
    task = submit(account)
    assert listed(signed_in, created_after="0001-01-01", created_before="9999-12-31") == [
        task.public_id
    ]


def test_pages_of_25_walk_every_task_once_and_carry_the_filters(
    signed_in: Client, funded: Account
) -> None:
    made = [submit(funded, Operation.REMOVE_BACKGROUND).public_id for _ in range(30)]
    fail(submit(funded, Operation.REMOVE_BACKGROUND))  # filtered out on every page
    first = list_page(signed_in, status="pending")
    first_ids = ROW.findall(first)
    assert first_ids == made[::-1][:25]
    assert link(first, "newest") is None
    older = link(first, "older")
    assert older is not None
    older_query = parse_qs(urlsplit(older).query)
    assert older_query == {"status": ["pending"], "starting_after": [first_ids[-1]]}

    second = signed_in.get(older)
    assert second.status_code == 200
    second_page = second.content.decode()
    second_ids = ROW.findall(second_page)
    assert second_ids == made[::-1][25:]
    assert link(second_page, "older") is None  # the last page
    assert link(second_page, "newest") == f"{reverse('tasks')}?status=pending"
    seen = first_ids + second_ids
    assert len(seen) == len(set(seen)) == 30 and set(seen) == set(made)


def test_another_accounts_tasks_never_list(
    signed_in: Client, account: Account, other_account: Account
) -> None:
    theirs_key = issue_key(other_account, "theirs")
    theirs = submit(other_account, api_key=theirs_key)
    mine = submit(account)
    page = list_page(signed_in)
    assert mine.public_id in page and theirs.public_id not in page
    assert f'value="{theirs_key.pk}"' not in page  # their key is no choice
    bad = list_page(signed_in, expect=400, api_key=str(theirs_key.pk))
    assert theirs.public_id not in bad
    # Their task id as a cursor names no task of ours.
    list_page(signed_in, expect=400, starting_after=theirs.public_id)


def test_the_pages_have_no_inline_script_style_or_handlers(
    signed_in: Client, account: Account
) -> None:
    done = complete(submit(account), mask=True)
    failed = fail(submit(account))
    pages = [list_page(signed_in), detail_page(signed_in, done), detail_page(signed_in, failed)]
    pages.append(list_page(signed_in, expect=400, status="x", created_after="no"))
    for page in pages:
        assert not INLINE_SCRIPT.search(page)
        assert not EVENT_HANDLER.search(page)
        assert not INLINE_STYLE.search(page)


# --- /tasks/<id> ----------------------------------------------------------------------------------


def test_the_detail_shows_parameters_timings_result_and_the_api_json(
    signed_in: Client, account: Account
) -> None:
    params = {"seed": 1234, "return_mask": True, "edge_smooth": False, "note": "über <b>"}
    task = complete(submit(account, Operation.REMOVE_BACKGROUND, params=params), mask=True)
    page = detail_page(signed_in, task)

    shown = dict(re.findall(r"<dt><code>(\w+)</code></dt><dd>([^<]*)</dd>", page))
    assert shown["seed"] == "1234"
    assert shown["return_mask"] == "true" and shown["edge_smooth"] == "false"
    assert html.unescape(shown["note"]) == "über <b>"  # escaped, not markup
    assert shown["inference"] == "0.25 s" and shown["total"] == "0.5 s"
    assert "Completed (UTC)" in page and task.completed_at.strftime("%Y-%m-%d %H:%M:%S") in page

    image = re.search(r'<figure id="task-image">.*?</figure>', page, re.S)
    mask = re.search(r'<figure id="task-mask">.*?</figure>', page, re.S)
    assert image and mask
    assert re.search(r'<a href="[^"]*/files/[^"]+" download>Download the image</a>', image[0])
    assert re.search(r'<a href="[^"]*/files/[^"]+" download>Download the mask</a>', mask[0])
    assert "Demo output" in page

    pre = re.search(r'<pre class="code" id="task-json">(.*?)</pre>', page, re.S)
    assert pre
    shown_json = json.loads(html.unescape(pre[1]))
    expected = task_detail(task=task)
    # The signed links are made afresh on each render; everything else is the API's answer.
    for body in (shown_json, expected):
        assert body["result"].pop("image_url") and body["result"].pop("mask_url")
    assert shown_json == expected
    assert 'id="task-refund"' not in page and 'id="task-error"' not in page


def test_the_json_is_exactly_what_the_api_answers(
    signed_in: Client, account: Account, raw_key: str
) -> None:
    task = fail(submit(account))
    page = detail_page(signed_in, task)
    pre = re.search(r'<pre class="code" id="task-json">(.*?)</pre>', page, re.S)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    answer = api.get(f"/v1/task/{task.public_id}")
    assert answer.status_code == 200
    assert pre and json.loads(html.unescape(pre[1])) == answer.json()
    assert html.unescape(pre[1]).startswith('{\n  "task_id"')  # indented


def test_a_failed_task_shows_its_error_and_refund(signed_in: Client, account: Account) -> None:
    task = fail(submit(account))
    page = detail_page(signed_in, task)
    error = re.search(r'<div class="message error"[^>]* id="task-error">(.*?)</div>', page, re.S)
    assert error
    assert "<code>PROCESSING_ERROR</code> the model ran out of memory" in error[1]
    assert '<p id="task-refund">4 credits refunded</p>' in error[1]
    assert re.search(r'id="balance">50\b', signed_in.get(reverse("dashboard")).content.decode())
    assert 'id="task-no-result">No result.<' in page


def test_a_pending_task_has_no_error_and_no_result_yet(signed_in: Client, account: Account) -> None:
    task = submit(account, params={"enhancement_type": "color"})
    page = detail_page(signed_in, task)
    assert 'id="task-error"' not in page and "refunded" not in page
    assert "No result yet" in page


def test_run_again_links_the_playground_with_the_tasks_parameters(
    signed_in: Client, account: Account
) -> None:
    params = {"seed": 99, "return_mask": True, "edge_smooth": False, "note": "a&b c"}
    task = submit(account, Operation.REMOVE_BACKGROUND, params=params)
    page = detail_page(signed_in, task)
    href = re.search(r'<a class="button secondary" id="run-again" href="([^"]+)"', page)
    assert href
    parts = urlsplit(html.unescape(href[1]))
    assert parts.path == "/playground/remove-background"
    assert parse_qs(parts.query) == {
        "seed": ["99"],
        "return_mask": ["true"],
        "edge_smooth": ["false"],
        "note": ["a&b c"],
    }


def test_another_accounts_task_is_a_404(
    signed_in: Client, account: Account, other_account: Account
) -> None:
    theirs = submit(other_account)
    response = signed_in.get(reverse("task_detail", args=[theirs.public_id]))
    assert response.status_code == 404
    assert theirs.public_id not in response.content.decode()
    assert signed_in.get(reverse("task_detail", args=["task_nosuchtask"])).status_code == 404
