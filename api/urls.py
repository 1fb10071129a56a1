"""Routes under /v1."""

from django.urls import path

from api.apis import (
    AccountApi,
    BatchApi,
    BatchEditApi,
    EnhanceApi,
    ImageEditApi,
    RemoveBackgroundApi,
    StyleTransferApi,
    TaskApi,
    TaskCancelApi,
    TaskListApi,
    TextToImageApi,
)
from api.waiting import wait_for_result
from api.webhooks import (
    WebhookDeliveryListApi,
    WebhookDetailApi,
    WebhookListApi,
    WebhookRedeliverApi,
    WebhookSecretRotateApi,
)

app_name = "api"

urlpatterns = [
    path("account", AccountApi.as_view(), name="account"),
    path("image-edit", wait_for_result(ImageEditApi), name="image_edit"),
    path(
        "remove-background",
        wait_for_result(RemoveBackgroundApi),
        name="remove_background",
    ),
    path(
        "text-to-image",
        wait_for_result(TextToImageApi),
        name="text_to_image",
    ),
    path(
        "style-transfer",
        wait_for_result(StyleTransferApi),
        name="style_transfer",
    ),
    path("enhance", wait_for_result(EnhanceApi), name="enhance"),
    path("batch-edit", BatchEditApi.as_view(), name="batch_edit"),
    path("tasks", TaskListApi.as_view(), name="tasks"),
    path("task/<str:task_id>", TaskApi.as_view(), name="task"),
    path("task/<str:task_id>/cancel", TaskCancelApi.as_view(), name="task_cancel"),
    path("batch/<str:batch_id>", BatchApi.as_view(), name="batch"),
    path("webhooks", WebhookListApi.as_view(), name="webhooks"),
    path(
        "webhooks/deliveries/<str:delivery_id>/redeliver",
        WebhookRedeliverApi.as_view(),
        name="webhook_redeliver",
    ),
    path("webhooks/<str:endpoint_id>", WebhookDetailApi.as_view(), name="webhook"),
    path(
        "webhooks/<str:endpoint_id>/rotate-secret",
        WebhookSecretRotateApi.as_view(),
        name="webhook_rotate_secret",
    ),
    path(
        "webhooks/<str:endpoint_id>/deliveries",
        WebhookDeliveryListApi.as_view(),
        name="webhook_deliveries",
    ),
]
