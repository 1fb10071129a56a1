"""The /v1 DRF views other than webhooks (api.webhooks): one class per image operation, the
account, tasks and batches. Thin classes: parse, call a selector or service, render the reference.

An image operation's view does the synchronous part (validate, load the images, charge, submit)
and answers 202 with the task; api.waiting wraps it to answer 200 once the result is in."""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar

from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Account
from accounts.selectors import account_owner
from api.base import ApiView
from api.idempotency import StoredResponse
from api.schema.operations import BATCH_EDIT_DOCS, image_operation
from api.serializers import (
    ImageSourceField,
    UploadOrUrl,
    choice_field,
    output_format_field,
    seed_field,
    side_field,
    strength_field,
)
from billing.costs import operation_cost
from billing.models import CreditLedgerEntry
from billing.selectors import ALLOWED_IMAGE_FORMATS, account_billing_summary, charge_balance_left
from core.operations import BATCH_MAX_IMAGES, Operation
from imaging.engine import types as engine
from imaging.models import Task
from imaging.selectors import (
    TASK_PAGE_DEFAULT,
    TASK_PAGE_MAX,
    batch_detail,
    batch_get,
    task_detail,
    task_get,
    tasks_page,
)
from imaging.services import (
    TaskOrigin,
    task_cancel_by_owner,
    task_inputs_prepare,
    tasks_submit,
)

CREDITS_USED_HEADER = "X-Credits-Used"
CREDITS_REMAINING_HEADER = "X-Credits-Remaining"


class OperationApi(ApiView):
    billable = True
    operation: ClassVar[Operation]
    # Request fields holding image sources, in the order the engine takes the images.
    image_fields: ClassVar[tuple[str, ...]] = ("image_url",)

    class InputSerializer(serializers.Serializer):
        pass

    def post(self, request: Request) -> Response:
        tasks = operation_submit(
            api=type(self),
            account=request.user.account,
            data=request_fields(type(self), request.data, request.FILES),
            origin=TaskOrigin(api_key=request.auth),
        )
        return self.accepted(tasks)

    @classmethod
    def image_sources(cls, params: dict) -> list[Any]:
        """The request's image sources, taken out of its parameters (they are stored as files)."""
        return [params.pop(name) for name in cls.image_fields]

    def accepted(self, tasks: list[Task]) -> Response:
        (task,) = tasks
        body = {
            "success": True,
            "task_id": task.public_id,
            "status": task.status,
            "credits_used": task.credits,
        }
        # TaskAcceptedSerializer's shape (documented with it) built directly: running four
        # known values through a serializer was 5 % of a submit's server CPU (bench/api.py).
        response = Response(body, status=202)
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


def request_fields(api: type[OperationApi], data: Any, files: Any) -> dict:
    """A request's fields for the operation's serializer: list fields from a form or multipart
    body as lists, and each image field's upload (`image` for `image_url`) when no URL came."""
    lists = list_fields(api)
    getlist = getattr(data, "getlist", None)  # a form or multipart body
    values = {key: getlist(key) if getlist and key in lists else data[key] for key in data}
    for name in api.image_fields:
        upload_name = name.removesuffix("_url")
        if upload_name in files and name not in values:
            values[name] = files[upload_name]
    return values


@cache
def list_fields(api: type[OperationApi]) -> frozenset[str]:
    """The operation's list fields, found once per view class (a serializer's fields are deep
    copies made for every instance)."""
    fields = api.InputSerializer().fields
    return frozenset(name for name, f in fields.items() if isinstance(f, serializers.ListField))


def operation_submit(
    *, api: type[OperationApi], account: Account, data: dict, origin: TaskOrigin
) -> list[Task]:
    """What an image POST does once its caller is known and admitted: validate the fields with
    the operation's serializer (ValidationError: 400), load its images, charge and queue. The
    dashboard's playground submits through here too, so both follow the same rules. The task
    keeps the request's language (Accept-Language, or the dashboard's; LocaleMiddleware made it
    active) for descriptions of operations without a prompt."""
    serializer = api.InputSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    params = dict(serializer.validated_data)
    sources = api.image_sources(params)
    inputs = task_inputs_prepare(
        account=account,
        operation=api.operation,
        params=params,
        sources=sources,
        language=translation.get_language(),
    )
    return tasks_submit(account=account, operation=api.operation, inputs=inputs, origin=origin)


def credit_headers_added(
    response: Response, *, last_charge: CreditLedgerEntry, used: int
) -> Response:
    """What this request was charged and what its last charge left (`unlimited` on an unlimited
    plan), read from the ledger entry the submit already wrote."""
    remaining = charge_balance_left(charge=last_charge)
    response[CREDITS_USED_HEADER] = str(used)
    response[CREDITS_REMAINING_HEADER] = "unlimited" if remaining is None else str(remaining)
    return response


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

    @classmethod
    def image_sources(cls, params: dict) -> list[Any]:
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


class AccountApi(ApiView):
    """GET /v1/account: who is calling, their plan, credits and limits."""

    class AccountOutputSerializer(serializers.Serializer):
        class SubscriptionSerializer(serializers.Serializer):
            plan = serializers.CharField()
            status = serializers.CharField()
            expires_at = serializers.DateTimeField(allow_null=True)

        class CreditsSerializer(serializers.Serializer):
            balance = serializers.IntegerField()
            used_this_month = serializers.IntegerField()
            last_renewed = serializers.DateTimeField(allow_null=True)
            unlimited = serializers.BooleanField(
                help_text="True on plans without a credit limit (Max): nothing is debited, "
                "`balance` is not a limit and `used_this_month` still counts usage."
            )

        class UsageLimitsSerializer(serializers.Serializer):
            max_images_per_request = serializers.IntegerField()
            max_file_size_mb = serializers.IntegerField()
            allowed_formats = serializers.ListField(child=serializers.CharField())

        user_id = serializers.CharField()
        email = serializers.EmailField()
        subscription = SubscriptionSerializer()
        credits = CreditsSerializer()
        usage_limits = UsageLimitsSerializer()

    @extend_schema(
        responses=AccountOutputSerializer, operation_id="account_retrieve", summary="Account"
    )
    def get(self, request: Request) -> Response:
        account = request.user.account
        summary = account_billing_summary(account=account)
        owner = account_owner(account=account)
        data = {
            "user_id": owner.public_id if owner else "",
            "email": owner.email if owner else "",
            "subscription": {
                "plan": summary.plan.code,
                "status": summary.status,
                "expires_at": summary.expires_at,
            },
            "credits": {
                "balance": summary.balance,
                "used_this_month": summary.used_this_month,
                "last_renewed": summary.last_renewed,
                "unlimited": summary.plan.is_unlimited,
            },
            "usage_limits": {
                "max_images_per_request": summary.plan.max_batch_images,
                "max_file_size_mb": summary.plan.max_file_size_mb,
                "allowed_formats": list(ALLOWED_IMAGE_FORMATS),
            },
        }
        return Response(self.AccountOutputSerializer(data).data)


class TaskOutputSerializer(serializers.Serializer):
    class ResultSerializer(serializers.Serializer):
        image_url = serializers.URLField()
        mask_url = serializers.URLField(required=False)
        description = serializers.CharField()

    class ErrorSerializer(serializers.Serializer):
        code = serializers.CharField()
        message = serializers.CharField()

    task_id = serializers.CharField()
    status = serializers.ChoiceField(choices=Task.Status.choices)
    progress = serializers.IntegerField(min_value=0, max_value=100)
    result = ResultSerializer(allow_null=True)
    error = ErrorSerializer(allow_null=True)
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)


class TaskApi(ApiView):
    @extend_schema(
        responses=TaskOutputSerializer,
        operation_id="task_retrieve",
        summary="Task status",
        description="The status and result of a task (poll the `Location` of a 202): `pending`, "
        "`processing`, then `completed` (with `result`), `failed` (with `error`; its credits "
        "are refunded) or `cancelled`.",
    )
    def get(self, request: Request, task_id: str) -> Response:
        return Response(task_detail(task=task_get(account=request.user.account, public_id=task_id)))


class TaskListApi(ApiView):
    """GET /v1/tasks: the caller's tasks, newest first, a page at a time."""

    class QuerySerializer(serializers.Serializer):
        limit = serializers.IntegerField(
            default=TASK_PAGE_DEFAULT, min_value=1, max_value=TASK_PAGE_MAX
        )
        starting_after = serializers.CharField(
            required=False, max_length=40, help_text="The last `task_id` of the previous page."
        )
        status = serializers.ChoiceField(choices=Task.Status.choices, required=False)
        operation = serializers.ChoiceField(
            choices=[operation.value for operation in Operation], required=False
        )
        created_after = serializers.DateTimeField(required=False)
        created_before = serializers.DateTimeField(required=False)

    class TaskListOutputSerializer(serializers.Serializer):
        data = TaskOutputSerializer(many=True)
        has_more = serializers.BooleanField(
            help_text="More tasks follow: ask again with `starting_after` = the last `task_id`."
        )

    @extend_schema(
        parameters=[QuerySerializer],
        responses=TaskListOutputSerializer,
        operation_id="task_list",
        summary="List tasks",
        description="The account's tasks, newest first, each as `GET /v1/task/{task_id}` shows "
        f"it; at most `limit` ({TASK_PAGE_MAX} or fewer) per page. Filters combine.",
    )
    def get(self, request: Request) -> Response:
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = tasks_page(account=request.user.account, **query.validated_data)
        body = {"data": [task_detail(task=task) for task in page.tasks], "has_more": page.has_more}
        return Response(self.TaskListOutputSerializer(body).data)


class TaskCancelApi(ApiView):
    @extend_schema(
        request=None,
        responses=TaskOutputSerializer,
        operation_id="task_cancel",
        summary="Cancel a task",
        description="Cancels a pending task, or a processing one whose worker stopped (no "
        "progress report for a lease period), and refunds its credits; cancelling again is a "
        "no-op. A task a worker is running or that has finished is `409 TASK_NOT_CANCELLABLE`.",
    )
    def post(self, request: Request, task_id: str) -> Response:
        task = task_cancel_by_owner(account=request.user.account, public_id=task_id)
        return Response(task_detail(task=task))


class BatchOutputSerializer(serializers.Serializer):
    batch_id = serializers.CharField()
    status = serializers.ChoiceField(
        choices=["pending", "processing", "completed", "partial", "failed"]
    )
    counts = serializers.DictField(child=serializers.IntegerField())
    total_credits = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    tasks = TaskOutputSerializer(many=True)


class BatchApi(ApiView):
    @extend_schema(
        responses=BatchOutputSerializer,
        operation_id="batch_retrieve",
        summary="Batch status",
        description="A batch edit's overall status, counts per task status, and every task.",
    )
    def get(self, request: Request, batch_id: str) -> Response:
        batch = batch_get(account=request.user.account, public_id=batch_id)
        return Response(batch_detail(batch=batch))


# Every image operation's API, in the order of Operation (the playground offers the same).
OPERATION_APIS: dict[Operation, type[OperationApi]] = {
    api.operation: api
    for api in sorted(
        (ImageEditApi, RemoveBackgroundApi, TextToImageApi, StyleTransferApi, EnhanceApi,
         BatchEditApi),
        key=lambda api: list(Operation).index(api.operation),
    )
}  # fmt: skip
