"""/tasks and /tasks/<id>: the account's task history, filtered and paged, and one task in full.
Reads only, through imaging's selectors (the same ones GET /v1/tasks and /v1/task/{id} use)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache

from accounts.models import ApiKey
from accounts.selectors import api_key_list
from accounts.web import request_account
from billing.costs import OPERATION_CHOICES, OPERATION_LABELS
from core.errors import InvalidRequest
from core.operations import Operation, operation_slug
from imaging.engine.types import client_params
from imaging.models import Task
from imaging.selectors import task_detail, task_get, task_image_url, task_mask_url, tasks_page

TASKS_PER_PAGE = 25
FILTERS = ("operation", "status", "created_after", "created_before", "api_key")
REFUNDED_STATUSES = frozenset({Task.Status.FAILED, Task.Status.CANCELLED})
DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class TaskFilterForm(forms.Form):
    """The filters of GET /tasks, as the API's TaskListApi parses them, plus the API key; the
    dates are whole UTC days, both ends included."""

    operation = forms.ChoiceField(
        label=gettext_lazy("Operation"),
        required=False,
        choices=[("", gettext_lazy("All operations")), *OPERATION_CHOICES],
    )
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        required=False,
        choices=[("", gettext_lazy("All statuses")), *Task.Status.choices],
    )
    created_after = forms.DateField(
        label=gettext_lazy("Created from"), required=False, widget=DATE_INPUT
    )
    created_before = forms.DateField(
        label=gettext_lazy("Created until"), required=False, widget=DATE_INPUT
    )
    api_key = forms.TypedChoiceField(
        label=gettext_lazy("API key"), required=False, coerce=int, empty_value=None
    )

    def __init__(self, data: dict, *, api_keys: list[ApiKey]) -> None:
        super().__init__(data)
        # Only this account's keys are choices: another tenant's key id is "not a valid choice".
        self.fields["api_key"].choices = [
            ("", _("All keys and the dashboard")),
            *((key.pk, _api_key_label(key)) for key in api_keys),
        ]

    def clean(self) -> dict:
        cleaned = super().clean()
        after, before = cleaned.get("created_after"), cleaned.get("created_before")
        if after and before and after > before:
            raise ValidationError(_("The start date is after the end date."), code="date_order")
        return cleaned

    def page_filters(self) -> dict:
        """The valid filters as tasks_page takes them."""
        data = self.cleaned_data
        return {
            "operation": data["operation"] or None,
            "status": data["status"] or None,
            "created_after": _day_from(data["created_after"]),
            "created_before": _day_until(data["created_before"]),
            "api_key_id": data["api_key"],
        }

    def query(self) -> dict[str, str]:
        """The filters as given (once valid), for the pagination links to carry."""
        return {name: self.data[name] for name in FILTERS if self.data.get(name)}


def _day_from(day: date | None) -> datetime | None:
    """tasks_page's `created_after` compares strictly: the microsecond before the day starts."""
    if day is None or day == date.min:  # the first day a date can name bounds nothing
        return None
    return datetime.combine(day, time.min, tzinfo=UTC) - timedelta(microseconds=1)


def _day_until(day: date | None) -> datetime | None:
    """tasks_page's `created_before` compares strictly: the start of the next day."""
    if day is None or day == date.max:
        return None
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def _api_key_label(key: ApiKey) -> str:
    label = f"{key.name} ({key.masked})"
    return _("%(key)s, revoked") % {"key": label} if key.is_revoked else label


def _origin(task: Task, keys: dict[int, ApiKey]) -> str:
    if task.source == Task.Source.DASHBOARD:
        return _("Dashboard")
    key = keys.get(task.api_key_id) if task.api_key_id else None
    return key.name if key else _("A deleted key")


@never_cache
@login_required
def tasks(request: HttpRequest) -> HttpResponse:
    account = request_account(request)
    api_keys = list(api_key_list(account=account))
    form = TaskFilterForm(request.GET, api_keys=api_keys)
    context: dict = {"form": form, "rows": None}
    if not form.is_valid():
        context["error"] = _("Some filters are not valid; correct them and search again.")
        return render(request, "dashboard/tasks.html", context, status=400)
    starting_after = request.GET.get("starting_after") or None
    try:
        page = tasks_page(
            account=account,
            limit=TASKS_PER_PAGE,
            starting_after=starting_after,
            **form.page_filters(),
        )
    except InvalidRequest:  # the cursor names no task of this account
        context["error"] = _("This page link is not valid; start again from the newest tasks.")
        return render(request, "dashboard/tasks.html", context, status=400)
    keys = {key.pk: key for key in api_keys}
    query = form.query()
    context.update(
        rows=[
            {
                "task": task,
                "label": OPERATION_LABELS[Operation(task.operation)],
                "image_url": (
                    task_image_url(task=task) if task.status == Task.Status.COMPLETED else None
                ),
                "origin": _origin(task, keys),
            }
            for task in page.tasks
        ],
        filtered=bool(query),
        newest_query=urlencode(query) if starting_after else None,
        older_query=(
            urlencode({**query, "starting_after": page.tasks[-1].public_id})
            if page.has_more
            else None
        ),
    )
    return render(request, "dashboard/tasks.html", context)


@never_cache
@login_required
def task_detail_page(request: HttpRequest, task_id: str) -> HttpResponse:
    account = request_account(request)
    task = task_get(account=account, public_id=task_id)  # NotFound is Http404: another tenant's too
    operation = Operation(task.operation)
    keys = {task.api_key_id: task.api_key} if task.api_key_id else {}
    context = {
        "task": task,
        "label": OPERATION_LABELS[operation],
        "origin": _origin(task, keys),
        "params": _params_shown(task.params),
        "timings": sorted(task.timings.items()) if isinstance(task.timings, dict) else [],
        "image_url": task_image_url(task=task),
        "mask_url": task_mask_url(task=task),
        # task_fail and task_cancel refund in the transaction that ends the task (tasks_audit
        # checks it), so a failed or cancelled task that was charged got its credits back.
        "refunded": task.credits if task.status in REFUNDED_STATUSES and task.charge_id else 0,
        "task_json": json.dumps(task_detail(task=task), indent=2, ensure_ascii=False),
        "playground_url": _playground_url(operation, task.params),
    }
    return render(request, "dashboard/task_detail.html", context)


def _param_text(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)  # true/false, numbers, lists as JSON writes them


def _params_shown(params: object) -> list[tuple[str, str]]:
    """The task's parameters; input images never are (the API stores them as files, and a data
    URL that slipped in would be megabytes of base64)."""
    if not isinstance(params, dict):
        return []
    return [
        (name, _param_text(value))
        for name, value in sorted(client_params(params).items())
        if not (isinstance(value, str) and value.startswith("data:"))
    ]


def _playground_url(operation: Operation, params: object) -> str:
    """/playground/<operation> with the task's parameters, to run it again (the playground
    reads them from the query string)."""
    path = reverse("playground_operation", args=[operation_slug(operation)])
    query = urlencode(_params_shown(params))
    return f"{path}?{query}" if query else path
