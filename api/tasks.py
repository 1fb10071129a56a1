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
from imaging.selectors import task_get, task_image_url, task_mask_url
from imaging.services import task_cancel


def task_body(task: Task) -> dict:
    result = None
    if task.status == Task.Status.COMPLETED:
        result = {"image_url": task_image_url(task=task), "description": task.description}
        if task.mask_file:
            result["mask_url"] = task_mask_url(task=task)
    error = None
    if task.status == Task.Status.FAILED:
        error = {"code": task.error_code, "message": task.error_message}
    return {
        "task_id": task.public_id,
        "status": task.status,
        "progress": task.progress,
        "result": result,
        "error": error,
        "created_at": task.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "completed_at": task.completed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        if task.completed_at
        else None,
    }


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
    @extend_schema(responses=TaskOutputSerializer, operation_id="task_retrieve")
    def get(self, request: Request, task_id: str) -> Response:
        return Response(task_body(task_get(account=request.user.account, public_id=task_id)))


class TaskCancelApi(ApiView):
    @extend_schema(request=None, responses=TaskOutputSerializer, operation_id="task_cancel")
    def post(self, request: Request, task_id: str) -> Response:
        task = task_cancel(account=request.user.account, public_id=task_id)
        if task.status != Task.Status.CANCELLED:
            raise TaskNotCancellable(
                _("Only pending tasks can be cancelled; this one is %(status)s.")
                % {"status": task.status}
            )
        return Response(task_body(task))
