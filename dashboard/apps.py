"""The customer dashboard: pages over the services and selectors the API uses (no rules here)."""

from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Dashboard"
