"""Staff views of webhook endpoints and deliveries: read-mostly, with redelivery."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import webhook_delivery_redeliver


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["public_id", "account", "url", "is_active", "created_at"]
    list_filter = ["is_active", "created_at"]
    search_fields = ["public_id", "url", "account__name"]
    # Only switching an endpoint off (or on) is a staff edit; customers own the rest.
    readonly_fields = [
        "public_id",
        "account",
        "url",
        "description",
        "disabled_reason",
        "failing_since",
        "secret_rotated_at",
        "created_at",
    ]
    fields = [
        "public_id",
        "account",
        "url",
        "description",
        "is_active",
        "disabled_reason",
        "failing_since",
        "secret_rotated_at",
        "created_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # registered by the customer (dashboard or API), with the URL vetted


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "public_id",
        "event_type",
        "status",
        "attempts",
        "last_status_code",
        "endpoint",
        "created_at",
        "next_attempt_at",
    ]
    list_filter = ["status", "event_type", "created_at"]
    search_fields = ["public_id", "endpoint__public_id", "endpoint__url", "task__public_id"]
    list_select_related = ["endpoint"]
    raw_id_fields = ["task", "endpoint"]
    actions = ["redeliver"]

    def get_readonly_fields(self, request: HttpRequest, obj: WebhookDelivery | None = None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # the delivery log goes only with its endpoint

    @admin.action(description=_("Redeliver selected deliveries"), permissions=["change"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        count = 0
        for delivery in queryset.select_related("account"):
            try:
                webhook_delivery_redeliver(account=delivery.account, public_id=delivery.public_id)
            except ApplicationError as error:
                self.message_user(
                    request, f"{delivery.public_id}: {error.details}", messages.WARNING
                )
            else:
                count += 1
        self.message_user(
            request, _("%(count)d delivery(ies) queued again.") % {"count": count}, messages.SUCCESS
        )
