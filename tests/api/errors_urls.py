"""A URLconf for envelope tests: the real /v1 routes plus views that fail in chosen ways."""

from django.urls import include, path
from rest_framework import exceptions
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.base import ApiView
from config.urls import handler400, handler404, handler500  # noqa: F401 (Django reads them here)
from config.urls import urlpatterns as project_urlpatterns


class EchoApi(APIView):
    """Parses its body like every POST endpoint does."""

    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        return Response({"received": request.data})


class CrashApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        raise RuntimeError("boom: internal detail that must not leak")


class ThrottledApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        raise exceptions.Throttled(wait=7)


class BillableEchoApi(ApiView):
    """Stands in for the image operations until they exist: a billable POST."""

    billable = True

    def post(self, request: Request) -> Response:
        return Response({"received": request.data})


urlpatterns = [
    path("v1/_test/billable", BillableEchoApi.as_view()),
    path("v1/_test/echo", EchoApi.as_view()),
    path("v1/_test/crash", CrashApi.as_view()),
    path("v1/_test/throttled", ThrottledApi.as_view()),
    path("", include(project_urlpatterns)),
]
