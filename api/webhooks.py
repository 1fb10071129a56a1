"""/v1/webhooks: register, list, show, update and delete callback URLs, rotate their secrets;
list and redeliver deliveries.

The signing secret is shown when an endpoint is created and by GET /v1/webhooks/{id} (as Stripe
and Svix do): it only lets a receiver check our signatures, it opens nothing of the account, and
it is derived rather than stored, so showing it again costs nothing. Lists never carry it.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ApiView
from api.schema.examples import (
    WEBHOOK_DELIVERIES_DOC,
    WEBHOOK_ROTATE_SECRET_DOC,
    WEBHOOK_SIGNING_DOC,
)
from webhooks.delivery import MAX_URL_LENGTH
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.selectors import webhook_delivery_list, webhook_endpoint_get, webhook_endpoint_list
from webhooks.services import (
    MAX_DESCRIPTION_LENGTH,
    webhook_delivery_redeliver,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_secret_rotate,
    webhook_endpoint_update,
)
from webhooks.signing import webhook_endpoint_secret


class CallbackUrlField(serializers.CharField):
    """A webhook's URL: text here; `webhooks.services` vets it as it would before a delivery (the
    schema states that rule: api.schema.components.HTTP_URL_PATTERN)."""


class WebhookEndpointSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    url = serializers.CharField()
    description = serializers.CharField()
    is_active = serializers.BooleanField()
    disabled_reason = serializers.CharField(
        help_text="Why it was switched off automatically (deliveries failing for days); empty "
        "otherwise. PATCH `is_active: true` switches it back on."
    )
    created_at = serializers.DateTimeField()


class WebhookEndpointSecretSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        help_text="Signing secret (`whsec_…`): verify `webhook-signature` with it."
    )


class WebhookDeliverySerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id", help_text="The message's `webhook-id`.")
    endpoint_id = serializers.CharField(source="endpoint.public_id")
    task_id = serializers.CharField(source="task.public_id")
    type = serializers.ChoiceField(source="event_type", choices=WebhookDelivery.EventType.choices)
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices)
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    created_at = serializers.DateTimeField()
    payload = serializers.JSONField(help_text="The body that is POSTed (the same every attempt).")


def _endpoint_with_secret(endpoint: WebhookEndpoint) -> dict:
    data = WebhookEndpointSerializer(endpoint).data
    return {**data, "secret": webhook_endpoint_secret(endpoint=endpoint)}


class WebhookListApi(ApiView):
    """GET /v1/webhooks: the account's endpoints. POST: register one."""

    class WebhookCreateInputSerializer(serializers.Serializer):
        url = CallbackUrlField(max_length=MAX_URL_LENGTH)
        description = serializers.CharField(
            max_length=MAX_DESCRIPTION_LENGTH, required=False, allow_blank=True, default=""
        )

    class WebhookListOutputSerializer(serializers.Serializer):
        webhooks = WebhookEndpointSerializer(many=True)

    @extend_schema(
        responses=WebhookListOutputSerializer,
        operation_id="webhooks_list",
        summary="List webhook endpoints",
        description="The account's callback URLs, oldest first (without their secrets).",
    )
    def get(self, request: Request) -> Response:
        endpoints = webhook_endpoint_list(account=request.user.account)
        return Response(self.WebhookListOutputSerializer({"webhooks": endpoints}).data)

    @extend_schema(
        request=WebhookCreateInputSerializer,
        responses={201: WebhookEndpointSecretSerializer},
        operation_id="webhooks_create",
        summary="Register a webhook endpoint",
        description=WEBHOOK_SIGNING_DOC,
    )
    def post(self, request: Request) -> Response:
        serializer = self.WebhookCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_create(
            account=request.user.account, **serializer.validated_data
        )
        return Response(_endpoint_with_secret(endpoint), status=status.HTTP_201_CREATED)


class WebhookDetailApi(ApiView):
    """GET /v1/webhooks/{id} (with its secret); DELETE it and its delivery log."""

    @extend_schema(
        responses=WebhookEndpointSecretSerializer,
        operation_id="webhooks_retrieve",
        summary="Show a webhook endpoint and its signing secret",
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        endpoint = webhook_endpoint_get(account=request.user.account, public_id=endpoint_id)
        return Response(_endpoint_with_secret(endpoint))

    class WebhookUpdateInputSerializer(serializers.Serializer):
        is_active = serializers.BooleanField(required=False)
        description = serializers.CharField(
            max_length=MAX_DESCRIPTION_LENGTH, required=False, allow_blank=True
        )

    @extend_schema(
        request=WebhookUpdateInputSerializer,
        responses=WebhookEndpointSerializer,
        operation_id="webhooks_partial_update",
        summary="Switch a webhook endpoint on or off, or change its description",
    )
    def patch(self, request: Request, endpoint_id: str) -> Response:
        serializer = self.WebhookUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_update(
            account=request.user.account, public_id=endpoint_id, **serializer.validated_data
        )
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        responses={204: None},
        operation_id="webhooks_destroy",
        summary="Delete a webhook endpoint and its delivery log",
    )
    def delete(self, request: Request, endpoint_id: str) -> Response:
        webhook_endpoint_delete(account=request.user.account, public_id=endpoint_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookSecretRotateApi(ApiView):
    """POST /v1/webhooks/{id}/rotate-secret: a new signing secret, the old one kept for a day."""

    @extend_schema(
        request=None,
        responses=WebhookEndpointSecretSerializer,
        operation_id="webhooks_rotate_secret",
        summary="Rotate a webhook endpoint's signing secret",
        description=WEBHOOK_ROTATE_SECRET_DOC,
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        endpoint = webhook_endpoint_secret_rotate(
            account=request.user.account, public_id=endpoint_id
        )
        return Response(_endpoint_with_secret(endpoint))


class WebhookDeliveryListApi(ApiView):
    """GET /v1/webhooks/{id}/deliveries: the endpoint's 50 most recent deliveries, newest first."""

    class WebhookDeliveryListOutputSerializer(serializers.Serializer):
        deliveries = WebhookDeliverySerializer(many=True)

    @extend_schema(
        responses=WebhookDeliveryListOutputSerializer,
        operation_id="webhooks_deliveries_list",
        summary="List an endpoint's recent deliveries",
        description=WEBHOOK_DELIVERIES_DOC,
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        account = request.user.account
        endpoint = webhook_endpoint_get(account=account, public_id=endpoint_id)
        deliveries = webhook_delivery_list(account=account, endpoint=endpoint)
        return Response(self.WebhookDeliveryListOutputSerializer({"deliveries": deliveries}).data)


class WebhookRedeliverApi(ApiView):
    """POST /v1/webhooks/deliveries/{msg_id}/redeliver: a fresh series of attempts, same id."""

    @extend_schema(
        request=None,
        responses={202: WebhookDeliverySerializer},
        operation_id="webhooks_deliveries_redeliver",
        summary="Redeliver a webhook message",
        description="Queues the message again from the start of the retry schedule, with the "
        "same `webhook-id` and body (202).",
    )
    def post(self, request: Request, delivery_id: str) -> Response:
        delivery = webhook_delivery_redeliver(account=request.user.account, public_id=delivery_id)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
