"""Bench-only routes (bench/api.py): every product route, plus the bare DRF baseline view."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import handler400, handler404, handler500
from config.urls import urlpatterns as product_urlpatterns

__all__ = ["handler400", "handler404", "handler500", "urlpatterns"]


class BareApi(APIView):
    """The baseline: DRF's request/response cycle with nothing of ours (no auth, no work)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"ok": True})

    def post(self, request: Request) -> Response:
        return Response({"ok": True})


# Under /v1, so the baseline passes through the same middleware as the API it is compared with.
urlpatterns = [path("v1/bench-bare", BareApi.as_view()), *product_urlpatterns]
