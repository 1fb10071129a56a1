"""The accounts admin's read-only "Inspect account" page: what the customer sees on /dashboard.

It lives here, not in accounts/admin.py, because it reads imaging's selectors and the dashboard's
overview, which the accounts and billing layers may not import.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_safe

from accounts.models import Account
from accounts.selectors import account_members
from billing.admin import BillingAccountAdmin
from dashboard.overview import account_overview

admin.site.unregister(Account)


@admin.register(Account)
class SupportAccountAdmin(BillingAccountAdmin):
    """The billing accounts admin plus the inspect page, linked from the list and the change page
    (templates/admin/accounts/account/change_form_object_tools.html)."""

    list_display = [*BillingAccountAdmin.list_display, "inspect_link"]

    def get_urls(self) -> list[URLPattern]:
        inspect = path(
            "<path:object_id>/inspect/",
            self.admin_site.admin_view(require_safe(self.inspect_view)),
            name=f"{self.opts.app_label}_{self.opts.model_name}_inspect",
        )
        # Before the defaults: their catch-all "<path:object_id>/" would take ".../inspect/".
        return [inspect, *super().get_urls()]

    @admin.display(description=_("Inspect"))
    def inspect_link(self, account: Account) -> str:
        url = reverse("admin:accounts_account_inspect", args=[account.pk])
        return format_html('<a href="{}">{}</a>', url, _("Inspect"))

    def inspect_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET only and reads only: the figures come from the selectors /dashboard uses."""
        account = self.get_object(request, unquote(object_id))
        if account is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, account):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            **account_overview(account=account),
            "title": _("Inspect account: %(name)s") % {"name": account.name},
            "opts": self.opts,
            "original": account,
            "account": account,
            "members": account_members(account=account),
        }
        return TemplateResponse(request, "admin/accounts/account_inspect.html", context)
