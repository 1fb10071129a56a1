"""GET /v1/task/{id} and POST /v1/task/{id}/cancel."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ApiView
from config.errors import TaskNotCancellable
from imaging.models import Task
from imaging.selectors import batch_detail, batch_get, task_detail, task_get
from imaging.services import task_cancel


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
        task = task_cancel(account=request.user.account, public_id=task_id)
        if task.status != Task.Status.CANCELLED:
            raise TaskNotCancellable(
                _("Only pending or stalled tasks can be cancelled; this one is %(status)s.")
                % {"status": task.status}
            )
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
