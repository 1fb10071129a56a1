"""What the clients do, written once for both: each call is a generator that yields the I/O it
needs (send a request, sleep, call back) and gets the results sent back, so the retry, waiting
and polling rules live here and the sync and async clients only perform the steps."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from ._constants import (
    DEFAULT_WAIT_TIMEOUT,
    FINISHED_STATUSES,
    INITIAL_RETRY_DELAY,
    MAX_RETRY_AFTER,
    MAX_RETRY_DELAY,
    POLL_INITIAL_INTERVAL,
    POLL_MAX_INTERVAL,
    RETRY_STATUSES,
)
from ._exceptions import (
    APIConnectionError,
    APITimeoutError,
    ConflictError,
    ProcessingError,
    TaskCancelledError,
    TaskTimeoutError,
    error_from_response,
    retry_after_seconds,
)
from ._files import build_body
from ._models import APIObject, Batch, BatchSubmitted, ImageResult, ResponseMeta, Task

if TYPE_CHECKING:
    from ._client import BaseClient

T = TypeVar("T")
ObjectT = TypeVar("ObjectT", bound=APIObject)

Timeout = float | httpx.Timeout | None


@dataclass
class RequestOptions:
    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    data: dict[str, Any] | None = None
    files: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None
    timeout: Timeout = None
    max_retries: int | None = None


@dataclass
class Send:
    """Send one attempt of `options`; the answer is the httpx.Response, or the
    httpx.TransportError it failed with."""

    options: RequestOptions


@dataclass
class Sleep:
    seconds: float


@dataclass
class Callback:
    """Call `function(argument)` (awaited when it returns an awaitable, on the async client)."""

    function: Callable[[Any], Any]
    argument: Any


Step = Send | Sleep | Callback
Flow = Generator[Step, Any, T]


# --- One request, with retries ---------------------------------------------------------------


def retry_delay(attempt: int, response: httpx.Response | None) -> float | None:
    """Seconds before retry number `attempt + 1`: the server's Retry-After when it names one
    (None, meaning "do not retry", when it asks for longer than MAX_RETRY_AFTER), else
    exponential backoff with jitter."""
    if response is not None:
        asked = retry_after_seconds(response.headers)
        if asked is not None:
            return asked if asked <= MAX_RETRY_AFTER else None
    backoff = min(INITIAL_RETRY_DELAY * 2.0**attempt, MAX_RETRY_DELAY)
    # Full-ish jitter (up to -25 %), so many clients retrying together spread out.
    return backoff * (1 - 0.25 * random.random())  # noqa: S311 (not cryptographic)


def request(ctx: BaseClient, options: RequestOptions) -> Flow[httpx.Response]:
    """Sends `options`, retrying connection errors, 429 and 503. A POST carries an
    Idempotency-Key, the same on every attempt (a fresh uuid4 when the caller gave none), so a
    retry is answered with the first attempt's result instead of running or charging again."""
    if options.method == "POST" and options.idempotency_key is None:
        options.idempotency_key = str(uuid.uuid4())
    retryable = options.method != "POST" or options.idempotency_key is not None
    retries = ctx.max_retries if options.max_retries is None else options.max_retries
    attempt = 0
    while True:
        outcome: httpx.Response | httpx.TransportError = yield Send(options)
        can_retry = retryable and attempt < retries
        if isinstance(outcome, httpx.TransportError):
            if can_retry:
                yield Sleep(retry_delay(attempt, None) or 0.0)
                attempt += 1
                continue
            if isinstance(outcome, httpx.TimeoutException):
                raise APITimeoutError(f"Request timed out: {options.method} {options.path}") from (
                    outcome
                )
            raise APIConnectionError(f"Connection error: {outcome}") from outcome
        if outcome.status_code < 400:
            return outcome
        if can_retry and outcome.status_code in RETRY_STATUSES:
            delay = retry_delay(attempt, outcome)
            if delay is not None:
                yield Sleep(delay)
                attempt += 1
                continue
        raise error_from_response(outcome)


def parse(ctx: BaseClient, response: httpx.Response, cls: type[ObjectT]) -> ObjectT:
    return cls(response.json(), meta=ResponseMeta(response), client=ctx)


def call(ctx: BaseClient, options: RequestOptions, cls: type[ObjectT]) -> Flow[ObjectT]:
    response = yield from request(ctx, options)
    return parse(ctx, response, cls)


def call_list(
    ctx: BaseClient, options: RequestOptions, key: str, cls: type[ObjectT]
) -> Flow[list[ObjectT]]:
    response = yield from request(ctx, options)
    meta = ResponseMeta(response)
    return [cls(item, meta=meta, client=ctx) for item in response.json()[key]]


def call_no_content(ctx: BaseClient, options: RequestOptions) -> Flow[None]:
    yield from request(ctx, options)
    return None


# --- Image operations --------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    path: str
    image_fields: tuple[str, ...] = ("image_url",)


IMAGE_EDIT = Operation("/image-edit")
REMOVE_BACKGROUND = Operation("/remove-background")
TEXT_TO_IMAGE = Operation("/text-to-image", ())
STYLE_TRANSFER = Operation("/style-transfer", ("content_image_url", "style_image_url"))
ENHANCE = Operation("/enhance")


def image_operation(
    ctx: BaseClient,
    operation: Operation,
    params: dict[str, Any],
    *,
    wait: bool,
    wait_timeout: float | None,
    idempotency_key: str | None,
    timeout: Timeout,
) -> Flow[ImageResult]:
    """POSTs the operation. `wait=False` asks for the 202 at once (`Prefer: respond-async`);
    otherwise the server waits for the result, and when it answers 202 anyway (longer work) the
    task is polled until it finishes."""
    json, data, files = build_body(params, operation.image_fields)
    headers = {} if wait else {"Prefer": "respond-async"}
    options = RequestOptions(
        "POST",
        operation.path,
        json=json,
        data=data,
        files=files,
        headers=headers,
        idempotency_key=idempotency_key,
        timeout=timeout,
    )
    response = yield from request(ctx, options)
    accepted = parse(ctx, response, ImageResult)
    if response.status_code != 202 or not wait:
        return accepted
    task = yield from wait_for_task(ctx, accepted["task_id"], timeout=wait_timeout)
    body = {
        "success": True,
        "task_id": task["task_id"],
        "image_url": task.result.image_url if task.result else None,
        "description": task.result.description if task.result else None,
        "processing_time": None,
        "credits_used": accepted.get("credits_used"),
    }
    if operation is REMOVE_BACKGROUND:
        body["mask_url"] = task.result.mask_url if task.result else None
    return ImageResult(body, meta=accepted._meta, client=ctx)


def batch_edit(
    ctx: BaseClient,
    params: dict[str, Any],
    *,
    wait: bool,
    wait_timeout: float | None,
    idempotency_key: str | None,
    timeout: Timeout,
) -> Flow[Batch | BatchSubmitted]:
    """POST /v1/batch-edit (JSON only: `image_urls` are URLs). The server answers at once; with
    `wait=True` the batch is then polled until every task finished."""
    body = {key: value for key, value in params.items() if value is not None}
    options = RequestOptions(
        "POST", "/batch-edit", json=body, idempotency_key=idempotency_key, timeout=timeout
    )
    response = yield from request(ctx, options)
    submitted = parse(ctx, response, BatchSubmitted)
    if not wait:
        return submitted
    batch_id = submitted["batch_id"]
    deadline = time.monotonic() + (DEFAULT_WAIT_TIMEOUT if wait_timeout is None else wait_timeout)
    interval = POLL_INITIAL_INTERVAL
    while True:
        batch = yield from call(ctx, RequestOptions("GET", f"/batch/{batch_id}"), Batch)
        if batch.is_finished:
            # The submit's headers: what the batch was charged and what was left.
            object.__setattr__(batch, "_meta", submitted._meta)
            return batch
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TaskTimeoutError(
                f"batch {batch_id} did not finish within the wait timeout", task_id=batch_id
            )
        yield Sleep(min(interval, remaining))
        interval = min(interval * 1.5, POLL_MAX_INTERVAL)


# --- Tasks ---------------------------------------------------------------------------------------


def wait_for_task(
    ctx: BaseClient,
    task_id: str,
    *,
    timeout: float | None = None,
    on_progress: Callable[[Task], Any] | None = None,
    cancel_on_timeout: bool = False,
    poll_interval: float | None = None,
    raise_on_failure: bool = True,
) -> Flow[Task]:
    """Polls GET /v1/task/{id} (0.5 s, then x1.5 up to 2 s apart) until the task finishes or
    `timeout` seconds pass overall. `on_progress(task)` is called whenever status or progress
    changes. On expiry: TaskTimeoutError naming the task, after cancelling it when asked (a task a
    worker is already running cannot be cancelled; the error's `cancelled` says which)."""
    total = DEFAULT_WAIT_TIMEOUT if timeout is None else timeout
    deadline = time.monotonic() + total
    interval = poll_interval or POLL_INITIAL_INTERVAL
    seen: tuple[Any, Any] | None = None
    while True:
        task = yield from call(ctx, RequestOptions("GET", f"/task/{task_id}"), Task)
        if on_progress is not None and (task.get("status"), task.get("progress")) != seen:
            seen = (task.get("status"), task.get("progress"))
            yield Callback(on_progress, task)
        if task.get("status") in FINISHED_STATUSES:
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            cancelled = False
            note = ""
            if cancel_on_timeout:
                try:
                    yield from request(ctx, RequestOptions("POST", f"/task/{task_id}/cancel"))
                    cancelled = True
                    note = "; it was cancelled (credits refunded)"
                except ConflictError as error:
                    note = f"; it could not be cancelled ({error.details or error.message})"
            raise TaskTimeoutError(
                f"task {task_id} did not finish within {total:g} s "
                f"(status {task.get('status')}, progress {task.get('progress')}%){note}",
                task_id=task_id,
                cancelled=cancelled,
            )
        yield Sleep(min(interval, remaining))
        if poll_interval is None:
            interval = min(interval * 1.5, POLL_MAX_INTERVAL)
    if raise_on_failure:
        raise_for_task(task)
    return task


def raise_for_task(task: Task) -> None:
    """ProcessingError for a failed task, TaskCancelledError for a cancelled one."""
    if task.get("status") == "failed":
        error = task.get("error") or {}
        raise ProcessingError(
            error.get("message") or "Image processing failed",
            code=error.get("code") or "PROCESSING_ERROR",
            details=f"task {task['task_id']} failed; its credits were refunded",
            request_id=task.request_id,
            task_id=task["task_id"],
        )
    if task.get("status") == "cancelled":
        raise TaskCancelledError(f"task {task['task_id']} was cancelled", task_id=task["task_id"])


def list_tasks_params(
    *,
    limit: int | None,
    starting_after: str | None,
    status: str | None,
    operation: str | None,
    created_after: datetime | str | None,
    created_before: datetime | str | None,
) -> dict[str, Any]:
    params = {
        "limit": limit,
        "starting_after": starting_after,
        "status": status,
        "operation": operation,
        "created_after": _iso(created_after),
        "created_before": _iso(created_before),
    }
    return {key: value for key, value in params.items() if value is not None}


def _iso(moment: datetime | str | None) -> str | None:
    if moment is None or isinstance(moment, str):
        return moment
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)  # Python 3.10 has no datetime.UTC
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def list_tasks_page(ctx: BaseClient, params: dict[str, Any]) -> Flow[tuple[list[Task], bool]]:
    response = yield from request(ctx, RequestOptions("GET", "/tasks", params=params))
    body = response.json()
    meta = ResponseMeta(response)
    tasks = [Task(item, meta=meta, client=ctx) for item in body.get("data", [])]
    return tasks, bool(body.get("has_more"))
