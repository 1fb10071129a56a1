"""Routes under /v1."""

from django.urls import path

from api.views import AccountApi

app_name = "api"

urlpatterns = [
    path("account", AccountApi.as_view(), name="account"),
]
