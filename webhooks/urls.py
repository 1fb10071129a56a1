"""The dashboard's /webhooks pages (the /v1/webhooks API is routed by api.urls)."""

from django.urls import path

from webhooks.views import (
    webhook_endpoint_create_view,
    webhook_endpoint_delete_view,
    webhook_endpoint_rotate_view,
    webhook_endpoint_switch_view,
    webhook_redeliver_view,
    webhooks_page,
)

urlpatterns = [
    path("webhooks", webhooks_page, name="webhooks"),
    path("webhooks/endpoints", webhook_endpoint_create_view, name="webhook_endpoint_create"),
    path(
        "webhooks/endpoints/<str:endpoint_id>/delete",
        webhook_endpoint_delete_view,
        name="webhook_endpoint_delete",
    ),
    path(
        "webhooks/endpoints/<str:endpoint_id>/switch",
        webhook_endpoint_switch_view,
        name="webhook_endpoint_switch",
    ),
    path(
        "webhooks/endpoints/<str:endpoint_id>/rotate-secret",
        webhook_endpoint_rotate_view,
        name="webhook_endpoint_rotate",
    ),
    path(
        "webhooks/deliveries/<str:delivery_id>/redeliver",
        webhook_redeliver_view,
        name="webhook_redeliver",
    ),
]
