"""The /v1 endpoints other than the image operations (api.operations) and webhooks: the account,
tasks and batches. Thin classes that call one selector or service and render the reference."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.selectors import account_owner
from api.base import ApiView
from billing.selectors import ALLOWED_IMAGE_FORMATS, account_billing_summary
from imaging.models import Task
from imaging.selectors import batch_detail, batch_get, task_detail, task_get
from imaging.services import task_cancel_by_owner


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
