"""Staff views of users, accounts, memberships and API keys."""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import translation
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, ApiKey, Invitation, Membership, User
from accounts.services import api_key_revoke


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "public_id", "is_staff", "is_active", "date_joined"]
    list_filter = ["is_staff", "is_superuser", "is_active"]
    search_fields = ["email", "name", "public_id"]
    date_hierarchy = "date_joined"
    readonly_fields = ["public_id", "last_login", "date_joined"]
    fieldsets = [
        (None, {"fields": ["email", "password", "public_id"]}),
        (_("Profile"), {"fields": ["name"]}),
        (
            _("Permissions"),
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        (_("Dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "is_personal", "is_active", "credit_balance", "created_at"]
    list_filter = ["is_personal", "is_active", "created_at"]
    # A member's email finds the account (support is handed an email more often than a name).
    search_fields = ["name", "memberships__user__email"]
    date_hierarchy = "created_at"
    readonly_fields = ["credit_balance", "created_at"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "account", "role", "created_at"]
    list_filter = ["role", "account__is_personal"]
    search_fields = ["user__email", "account__name"]
    list_select_related = ["user", "account"]
    autocomplete_fields = ["user", "account"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Read-only: invitations are sent from /team (the token exists only in the email)."""

    list_display = ["email", "account", "role", "invited_by", "created_at", "expires_at",
                    "accepted_at"]  # fmt: skip
    list_filter = ["role", ("accepted_at", admin.EmptyFieldListFilter)]
    search_fields = ["email", "account__name", "invited_by__email"]
    list_select_related = ["account", "invited_by"]
    readonly_fields = ["account", "email", "role", "invited_by", "created_at", "expires_at",
                       "accepted_at", "accepted_by"]  # fmt: skip
    exclude = ["digest"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


with translation.override(None):
    # As the change form labels it (capitalized), which is what the admin's own edits record.
    _REVOKED_AT_LABEL = str(capfirst(ApiKey._meta.get_field("revoked_at").verbose_name))


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "masked",
        "account",
        "created_by",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = [
        ("revoked_at", admin.EmptyFieldListFilter),
        ("expires_at", admin.EmptyFieldListFilter),
        "created_at",
        "last_used_at",
    ]
    # A customer quotes the key's visible start (its prefix), never the whole key.
    search_fields = ["name", "prefix", "account__name", "created_by__email"]
    list_select_related = ["account", "created_by"]
    date_hierarchy = "created_at"
    readonly_fields = ["prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    fields = [
        "account",
        "name",
        "prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are issued on /profile or by `manage.py issue_api_key`, shown once

    @admin.action(description=_("Revoke selected keys"), permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        """Revoke through the service the owner's /profile uses; each revocation is logged in the
        admin history (LogEntry). Revoking moves no money, so it is no StaffMoneyAction."""
        revoked = 0
        for api_key in queryset.filter(revoked_at__isnull=True).select_related("account"):
            api_key_revoke(account=api_key.account, key_id=api_key.pk)
            # The structure the admin writes for an edit: stored untranslated, shown translated.
            self.log_change(request, api_key, [{"changed": {"fields": [_REVOKED_AT_LABEL]}}])
            revoked += 1
        self.message_user(
            request, _("%(count)d key(s) revoked.") % {"count": revoked}, messages.SUCCESS
        )
