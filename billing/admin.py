"""Staff views of plans, subscriptions and the (read-only) credit ledger."""

from django.contrib import admin
from django.http import HttpRequest

from billing.models import CreditLedgerEntry, Plan, Subscription


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "name",
        "monthly_credits",
        "requests_per_minute",
        "requests_per_day",
        "max_file_size_mb",
        "max_batch_images",
        "max_concurrent_tasks",
        "is_public",
    ]
    list_editable = ["is_public"]
    search_fields = ["code", "name"]


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["account", "plan", "status", "current_period_end", "last_renewed_at"]
    list_filter = ["plan", "status"]
    search_fields = ["account__name", "account__memberships__user__email"]
    autocomplete_fields = ["account"]


@admin.register(CreditLedgerEntry)
class CreditLedgerEntryAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "account",
        "kind",
        "amount",
        "balance_after",
        "reference",
        "actor",
    ]
    list_filter = ["kind", "created_at"]
    search_fields = ["account__name", "idempotency_key", "reference", "note"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
