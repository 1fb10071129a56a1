"""POST /v1/<operation>: validate, load the images safely, charge and submit, then answer.

The DRF view does the synchronous part and answers 202 with the task; `wait_for_result` wraps it
in an async view that waits for the result without holding a thread, and answers 200 in the
reference's shape when the task finishes in time (else the 202 stands).
"""

from __future__ import annotations

from typing import Any, ClassVar

from asgiref.sync import SyncToAsync, sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ApiView
from api.idempotency import StoredResponse, idempotency_store
from api.schema.operations import BATCH_EDIT_DOCS, image_operation
from api.serializers import (
    OperationResultSerializer,
    RemoveBackgroundResultSerializer,
    TaskAcceptedSerializer,
)
from billing.costs import operation_cost
from billing.models import CreditLedgerEntry
from billing.selectors import charge_balance_left
from core.errors import ProcessingError, error_body
from core.operations import BATCH_MAX_IMAGES, Operation
from imaging import inputs
from imaging.engine import types as engine
from imaging.models import Task
from imaging.notifications import connections_release, task_wait_finished
from imaging.selectors import task_get, task_image_url, task_mask_url
from imaging.services import SEED_MAX, task_inputs_prepare, tasks_submit
from imaging.storage import DEFAULT_OUTPUT_FORMAT, OUTPUT_FORMATS

CREDITS_USED_HEADER = "X-Credits-Used"
CREDITS_REMAINING_HEADER = "X-Credits-Remaining"


class ImageSourceField(serializers.CharField):
    """An http(s) URL or a base64 `data:image/…` URL (multipart uploads come as files)."""

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data).strip()
        if not inputs.image_source_supported(value):
            raise serializers.ValidationError(_("must be an http(s) URL or a data:image URL"))
        return value


# The fields' defaults and choices are the engine requests' own (imaging.engine.types).


def seed_field() -> serializers.IntegerField:
    return serializers.IntegerField(required=False, min_value=0, max_value=SEED_MAX)


def output_format_field() -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=list(OUTPUT_FORMATS), default=DEFAULT_OUTPUT_FORMAT)


def strength_field(request: type) -> serializers.FloatField:
    return serializers.FloatField(
        default=engine.request_default(request, "strength"), min_value=0.1, max_value=1.0
    )


def side_field(name: str) -> serializers.IntegerField:
    default = engine.request_default(engine.TextToImageRequest, name)
    return serializers.IntegerField(default=default, min_value=64, max_value=2048)


def choice_field(request: type, name: str) -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=engine.request_choices(request, name), default=engine.request_default(request, name)
    )


class OperationApi(ApiView):
    billable = True
    operation: ClassVar[Operation]
    # Request fields holding image sources, in the order the engine takes the images.
    image_fields: ClassVar[tuple[str, ...]] = ("image_url",)

    class InputSerializer(serializers.Serializer):
        pass

    def post(self, request: Request) -> Response:
        account = request.user.account
        serializer = self.InputSerializer(data=self._data_with_uploads(request))
        serializer.is_valid(raise_exception=True)
        params = dict(serializer.validated_data)
        inputs = task_inputs_prepare(
            account=account,
            operation=self.operation,
            params=params,
            sources=self.image_sources(params),
        )
        tasks = tasks_submit(account=account, operation=self.operation, inputs=inputs)
        return self.accepted(tasks)

    def image_sources(self, params: dict) -> list[Any]:
        """The request's image sources, taken out of its parameters (they are stored as files)."""
        return [params.pop(name) for name in self.image_fields]

    def accepted(self, tasks: list[Task]) -> Response:
        (task,) = tasks
        body = {
            "success": True,
            "task_id": task.public_id,
            "status": task.status,
            "credits_used": task.credits,
        }
        response = Response(TaskAcceptedSerializer(body).data, status=202)
        response["Location"] = reverse("api:task", kwargs={"task_id": task.public_id})
        response.nb_task_pk = task.pk
        return credit_headers_added(response, last_charge=task.charge, used=task.credits)

    def replay(self, stored: StoredResponse) -> Response:
        """A retry of a request still waiting (or timed out) waits for the same task."""
        response = super().replay(stored)
        if stored.status_code == 202 and isinstance(stored.body, dict):
            task = task_get(account=self.request.user.account, public_id=stored.body["task_id"])
            response.nb_task_pk = task.pk
        return response

    def _data_with_uploads(self, request: Request) -> dict:
        fields = self.InputSerializer().fields
        lists = {name for name, field in fields.items() if isinstance(field, serializers.ListField)}
        getlist = getattr(request.data, "getlist", None)  # a form or multipart body
        data = {
            key: getlist(key) if getlist and key in lists else request.data[key]
            for key in request.data
        }
        for name in self.image_fields:
            upload_name = name.removesuffix("_url")
            if upload_name in request.FILES and name not in data:
                data[name] = request.FILES[upload_name]
        return data


def credit_headers_added(
    response: Response, *, last_charge: CreditLedgerEntry, used: int
) -> Response:
    """What this request was charged and what its last charge left (`unlimited` on an unlimited
    plan), read from the ledger entry the submit already wrote."""
    remaining = charge_balance_left(charge=last_charge)
    response[CREDITS_USED_HEADER] = str(used)
    response[CREDITS_REMAINING_HEADER] = "unlimited" if remaining is None else str(remaining)
    return response


class UploadOrUrl(ImageSourceField):
    def to_internal_value(self, data: Any) -> Any:
        if hasattr(data, "read"):
            return data  # an uploaded file: imaging.inputs checks it like any other source
        return super().to_internal_value(data)


@image_operation("image_edit")
class ImageEditApi(OperationApi):
    operation = Operation.IMAGE_EDIT

    class InputSerializer(serializers.Serializer):
        prompt = serializers.CharField(max_length=2000)
        image_url = UploadOrUrl()
        strength = strength_field(engine.ImageEditRequest)
        preserve_scene = serializers.BooleanField(
            default=engine.request_default(engine.ImageEditRequest, "preserve_scene")
        )
        output_format = output_format_field()
        seed = seed_field()


@image_operation("remove_background")
class RemoveBackgroundApi(OperationApi):
    operation = Operation.REMOVE_BACKGROUND

    class InputSerializer(serializers.Serializer):
        image_url = UploadOrUrl()
        return_mask = serializers.BooleanField(
            default=engine.request_default(engine.RemoveBackgroundRequest, "return_mask")
        )
        edge_smooth = serializers.BooleanField(
            default=engine.request_default(engine.RemoveBackgroundRequest, "edge_smooth")
        )


@image_operation("text_to_image")
class TextToImageApi(OperationApi):
    operation = Operation.TEXT_TO_IMAGE
    image_fields = ()

    class InputSerializer(serializers.Serializer):
        prompt = serializers.CharField(max_length=2000)
        width = side_field("width")
        height = side_field("height")
        style = choice_field(engine.TextToImageRequest, "style")
        quality = choice_field(engine.TextToImageRequest, "quality")
        output_format = output_format_field()
        seed = seed_field()

        def validate(self, attrs: dict) -> dict:
            for side in ("width", "height"):
                if attrs[side] % 8:
                    raise serializers.ValidationError({side: _("must be a multiple of 8")})
            return attrs


@image_operation("style_transfer")
class StyleTransferApi(OperationApi):
    operation = Operation.STYLE_TRANSFER
    image_fields = ("content_image_url", "style_image_url")

    class InputSerializer(serializers.Serializer):
        content_image_url = UploadOrUrl()
        style_image_url = UploadOrUrl()
        strength = strength_field(engine.StyleTransferRequest)
        output_format = output_format_field()
        seed = seed_field()


@image_operation("enhance")
class EnhanceApi(OperationApi):
    operation = Operation.ENHANCE

    class InputSerializer(serializers.Serializer):
        image_url = UploadOrUrl()
        enhancement_type = choice_field(engine.EnhanceRequest, "enhancement_type")
        upscale_factor = choice_field(engine.EnhanceRequest, "upscale_factor")
        output_format = output_format_field()


class BatchEditApi(OperationApi):
    """One task per image under a batch, charged all-or-nothing; answers at once (reference)."""

    operation = Operation.BATCH_EDIT
    image_fields = ()

    class InputSerializer(serializers.Serializer):
        prompt = serializers.CharField(max_length=2000)
        image_urls = serializers.ListField(
            child=ImageSourceField(), min_length=1, max_length=BATCH_MAX_IMAGES
        )
        preserve_character = serializers.BooleanField(
            default=engine.request_default(engine.BatchEditRequest, "preserve_character")
        )
        style_consistency = serializers.BooleanField(
            default=engine.request_default(engine.BatchEditRequest, "style_consistency")
        )
        output_format = output_format_field()
        seed = seed_field()

    def image_sources(self, params: dict) -> list[Any]:
        return params.pop("image_urls")

    @extend_schema_serializer(component_name="BatchEditResponse")
    class BatchOutputSerializer(serializers.Serializer):
        class BatchTaskSerializer(serializers.Serializer):
            task_id = serializers.CharField()
            status = serializers.CharField()

        success = serializers.BooleanField()
        batch_id = serializers.CharField()
        tasks = BatchTaskSerializer(many=True)
        total_credits = serializers.IntegerField()

    @extend_schema(
        request={"application/json": InputSerializer},
        responses=BatchOutputSerializer,
        operation_id="batch_edit",
        **BATCH_EDIT_DOCS,
    )
    def post(self, request: Request) -> Response:
        return super().post(request)

    def accepted(self, tasks: list[Task]) -> Response:
        total = operation_cost(self.operation, images=len(tasks))
        body = {
            "success": True,
            "batch_id": tasks[0].batch.public_id,
            "tasks": [{"task_id": t.public_id, "status": "processing"} for t in tasks],
            "total_credits": total,
        }
        response = Response(self.BatchOutputSerializer(body).data)
        return credit_headers_added(response, last_charge=tasks[-1].charge, used=total)


# --- Waiting for the result -------------------------------------------------------------------


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
    return error_body(error)


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
