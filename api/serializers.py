"""The image operations' request fields and the bodies they answer with. The views render through
the output serializers and drf-spectacular documents them, so the schema and the body cannot
drift apart; the request fields take their defaults and choices from the engine's requests."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from imaging import inputs
from imaging.engine import types as engine
from imaging.models import Task
from imaging.services import SEED_MAX
from imaging.storage import DEFAULT_OUTPUT_FORMAT, OUTPUT_FORMATS

# --- Request fields -------------------------------------------------------------------------------


class ImageSourceField(serializers.CharField):
    """An http(s) URL or a base64 `data:image/…` URL (multipart uploads come as files)."""

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data).strip()
        if not inputs.image_source_supported(value):
            raise serializers.ValidationError(_("must be an http(s) URL or a data:image URL"))
        return value


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


class UploadOrUrl(ImageSourceField):
    def to_internal_value(self, data: Any) -> Any:
        if hasattr(data, "read"):
            return data  # an uploaded file: imaging.inputs checks it like any other source
        return super().to_internal_value(data)


# --- Answers --------------------------------------------------------------------------------------


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
