"""Top-level routes: dashboard pages, allauth, admin, /v1 and its docs, health and metrics."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView, TemplateView
from drf_spectacular.views import (
    SpectacularJSONAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from api.docs import docs_page
from api.health import healthz, readyz
from api.metrics import metrics
from billing.views import billing, pricing
from imaging.views import file_serve

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    # The reference sends users to /login; allauth serves it under /accounts/.
    path("login", RedirectView.as_view(pattern_name="account_login", query_string=True)),
    path("pricing", pricing, name="pricing"),
    path("billing", billing, name="billing"),
    path("billing/", include("billing.urls")),
    path("", include("accounts.urls")),
    path("", include("dashboard.urls")),
    path("", include("webhooks.urls")),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),  # the language switcher (set_language)
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("files/<str:token>", file_serve, name="file"),
    path("v1/openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("docs", docs_page, name="docs"),
    path("docs/swagger", SpectacularSwaggerView.as_view(url_name="openapi"), name="docs_swagger"),
    path(
        "docs/redoc",
        SpectacularRedocView.as_view(url_name="openapi", template_name="docs/redoc.html"),
        name="redoc",
    ),
    path("v1/", include("api.urls")),
]

handler400 = "api.errors.bad_request"
handler404 = "api.errors.page_not_found"
handler500 = "api.errors.server_error"
