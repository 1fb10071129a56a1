"""/playground/<operation>: try every operation of the API from the dashboard. A submit goes
through the API's own path (api.apis.operation_submit: the same validation, limits, charge and
queue) after the same per-minute and daily limits, and the task records the member who ran it.
While the work runs, htmx re-fetches the result part every second (the task's real progress)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from rest_framework.exceptions import ValidationError

from accounts.models import Account
from accounts.web import request_account
from api.apis import OPERATION_APIS, OperationApi, operation_submit, request_fields
from billing.costs import OPERATION_LABELS, operation_cost
from billing.ratelimit import request_admit
from core.errors import ApplicationError
from core.operations import Operation, operation_slug
from dashboard.playground import field_specs, form_fields, snippets, task_fields
from imaging.models import FINISHED_STATUSES, Task
from imaging.selectors import (
    batch_get,
    task_get,
    task_image_url,
    task_mask_url,
)
from imaging.services import TaskOrigin

OPERATIONS_BY_SLUG: dict[str, Operation] = {operation_slug(op): op for op in OPERATION_APIS}


@login_required
def playground(request: HttpRequest) -> HttpResponse:
    return redirect("playground_operation", slug=next(iter(OPERATIONS_BY_SLUG)))


@never_cache
@login_required
def playground_operation(request: HttpRequest, slug: str) -> HttpResponse:
    operation = OPERATIONS_BY_SLUG.get(slug)
    if operation is None:
        raise Http404("no such operation")
    api = OPERATION_APIS[operation]
    account = request_account(request)
    errors: dict = {}
    error_message = ""
    status = 200
    values = request.POST if request.method == "POST" else request.GET
    if request.method == "POST":
        data = request_fields(api, form_fields(api, request.POST), request.FILES)
        try:
            request_admit(account=account, billable=True)
            tasks = operation_submit(
                api=api,
                account=account,
                data=data,
                origin=TaskOrigin(source=Task.Source.DASHBOARD, member=request.user),
            )
        except ValidationError as invalid:
            errors = invalid.detail if isinstance(invalid.detail, dict) else {}
            error_message, status = str(_first_error(invalid.detail)), 400
        except ApplicationError as error:
            error_message, status = str(error), error.http_status
        else:
            shown = (
                f"batch={tasks[0].batch.public_id}"
                if tasks[0].batch
                else f"task={tasks[0].public_id}"
            )
            return redirect(f"{reverse('playground_operation', args=[slug])}?{shown}")
    shown = _shown_result(request, account=account, api=api, operation=operation)
    if shown and getattr(request, "htmx", False) and request.method == "GET":
        # The page's progress poll (htmx): only the result part, until the work has finished.
        return render(request, "dashboard/_playground_result.html", shown)
    context = {
        "operation": operation,
        "slug": slug,
        "label": OPERATION_LABELS[operation],
        "operations": [(s, OPERATION_LABELS[op]) for s, op in OPERATIONS_BY_SLUG.items()],
        "fields": [
            (spec, values.get(spec.name, ""), errors.get(spec.name)) for spec in field_specs(api)
        ],
        "cost": operation_cost(operation),
        "per_image": operation == Operation.BATCH_EDIT,
        "error_message": error_message,
        **shown,
    }
    return render(request, "dashboard/playground.html", context, status=status)


def _first_error(detail: object) -> object:
    """The first message of a DRF error detail (for the banner above the form)."""
    if isinstance(detail, dict):
        name, value = next(iter(detail.items()))
        return f"{name}: {_first_error(value)}"
    if isinstance(detail, list) and detail:
        return _first_error(detail[0])
    return detail


def _shown_result(
    request: HttpRequest, *, account: Account, api: type[OperationApi], operation: Operation
) -> dict:
    base_url = request.build_absolute_uri("/").rstrip("/")
    if task_id := request.GET.get("task"):
        task = task_get(account=account, public_id=task_id)
        items = [_item(task)]
        params = task.params
    elif batch_id := request.GET.get("batch"):
        batch = batch_get(account=account, public_id=batch_id)
        tasks = list(Task.objects.for_account(account).filter(batch=batch).order_by("batch_index"))
        items = [_item(task) for task in tasks]
        params = tasks[0].params if tasks else {}
    else:
        return {}
    return {
        "items": items,
        "result_url": request.get_full_path(),
        "finished": all(item["finished"] for item in items),
        "demo": any(item["task"].demo for item in items),
        "snippets": snippets(operation, task_fields(params, api), base_url=base_url),
    }


def _item(task: Task) -> dict:
    return {
        "task": task,
        "finished": task.status in FINISHED_STATUSES,
        "image_url": task_image_url(task=task),
        "mask_url": task_mask_url(task=task),
    }
