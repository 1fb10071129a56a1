"""The image POSTs' async half: the DRF view (api.apis) submits, then the answer waits for the
task's finish without holding a thread, and is 200 in the reference's shape when the task
finishes within API_SYNC_WAIT_SECONDS (else the view's 202 stands)."""

from __future__ import annotations

from asgiref.sync import SyncToAsync, sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy as _

from api.apis import CREDITS_REMAINING_HEADER, CREDITS_USED_HEADER, OperationApi
from api.idempotency import idempotency_store
from api.serializers import OperationResultSerializer, RemoveBackgroundResultSerializer
from core.errors import ProcessingError, error_body
from core.operations import Operation
from imaging.models import Task
from imaging.notifications import connections_release, task_wait_finished
from imaging.selectors import task_image_url, task_mask_url


def prefers_async(request: HttpRequest) -> bool:
    return "respond-async" in request.headers.get("Prefer", "").lower()


def finished_body(task: Task) -> dict:
    body = {
        "success": True,
        "task_id": task.public_id,
        "image_url": task_image_url(task=task),
        "description": task.description,
        "processing_time": task.processing_time,
        "credits_used": task.credits,
    }
    if task.operation != Operation.REMOVE_BACKGROUND:
        return OperationResultSerializer(body).data
    body["mask_url"] = task_mask_url(task=task)  # null unless return_mask was asked for
    return RemoveBackgroundResultSerializer(body).data


def failed_body(task: Task) -> dict:
    """The operation failed while the client waited: PROCESSING_ERROR, with the refund said."""
    error = ProcessingError(
        _("%(reason)s (%(credits)d credits refunded)")
        % {"reason": task.error_message or _("Image processing failed"), "credits": task.credits}
    )
    # The task's id, so that a client which waited can still look the task up.
    return {**error_body(error), "task_id": task.public_id}


def wait_for_result(view_class: type[OperationApi]):
    """The async endpoint: the DRF view submits, then the answer waits for the task's finish."""
    view = view_class.as_view()

    def submit(request: HttpRequest) -> HttpResponse:
        try:
            return view(request)
        finally:
            connections_release()

    async def endpoint(request: HttpRequest) -> HttpResponse:
        accepted = await sync_to_async(submit)(request)
        task_pk = getattr(accepted, "nb_task_pk", None)
        if task_pk is None or prefers_async(request):
            return accepted
        request_thread_release()
        task = await task_wait_finished(task_id=task_pk, timeout=settings.API_SYNC_WAIT_SECONDS)
        if task is None:
            return accepted  # not finished in time: the 202 with its Location stands
        # Building the body signs URLs and touches no database: no thread hop needed.
        if task.status == Task.Status.COMPLETED:
            status, body = 200, finished_body(task)
        elif task.status == Task.Status.FAILED:
            status, body = 500, failed_body(task)
        else:
            return accepted  # cancelled meanwhile: the 202's Location shows it
        if claim_id := getattr(accepted, "nb_idempotency_claim_id", None):
            await sync_to_async(idempotency_store)(
                claim_id=claim_id, status_code=status, body=body, headers={}
            )
        return submit_headers_copied(
            JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False}),
            source=accepted,
        )

    endpoint.csrf_exempt = True
    endpoint.cls, endpoint.initkwargs = view_class, {}  # drf-spectacular documents the view
    return endpoint


def request_thread_release() -> None:
    """Let this request's sync thread go before it waits.

    Under ASGI, Django gives each request a thread of its own for its sync code (asgiref's
    per-request ThreadSensitiveContext), started with the request and kept to its end: every
    waiting client would park an OS thread. The submit gave the database connection back, so
    nothing on that thread is needed any more; it is shut down now, and sync code after the wait
    gets a fresh one, which the handler shuts down at the end as usual. (No context, e.g. under
    the test client: nothing to do.)
    """
    context = SyncToAsync.thread_sensitive_context.get(None)
    executor = SyncToAsync.context_to_thread_executor.pop(context, None) if context else None
    if executor is not None:
        executor.shutdown(wait=False)


def submit_headers_copied(response: HttpResponse, *, source: HttpResponse) -> HttpResponse:
    """The final answer carries the rate-limit and credit headers of the submit."""
    for header in (
        "RateLimit",
        "RateLimit-Policy",
        "Idempotent-Replayed",
        CREDITS_USED_HEADER,
        CREDITS_REMAINING_HEADER,
    ):
        if header in source:
            response[header] = source[header]
    return response
