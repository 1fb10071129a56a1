"""The bodies the image operations answer with, as output serializers: the views render through
them and drf-spectacular documents them, so the schema and the body cannot drift apart."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from imaging.models import Task

# `success` is always true (or false): an enum of one, added by `postprocess_schema` after
# drf-spectacular's enum hook, which would otherwise turn each into a component of its own.
ALWAYS = "x-nb-always"


@extend_schema_field({"type": "boolean", ALWAYS: True})
class TrueField(serializers.BooleanField):
    pass


@extend_schema_field({"type": "boolean", ALWAYS: False})
class FalseField(serializers.BooleanField):
    pass


@extend_schema_serializer(component_name="TaskAccepted")
class TaskAcceptedSerializer(serializers.Serializer):
    success = TrueField()
    task_id = serializers.CharField()
    status = serializers.ChoiceField(choices=Task.Status.choices)
    credits_used = serializers.IntegerField(min_value=0)


@extend_schema_serializer(component_name="OperationResult")
class OperationResultSerializer(serializers.Serializer):
    success = TrueField()
    task_id = serializers.CharField()
    image_url = serializers.URLField(help_text="A signed link to the result; it expires.")
    description = serializers.CharField(allow_blank=True)
    processing_time = serializers.FloatField(
        allow_null=True, help_text="Seconds the worker spent on the task."
    )
    credits_used = serializers.IntegerField(min_value=0)


@extend_schema_serializer(component_name="RemoveBackgroundResult")
class RemoveBackgroundResultSerializer(OperationResultSerializer):
    mask_url = serializers.URLField(
        allow_null=True, help_text="The mask (white = subject); null unless `return_mask: true`."
    )
