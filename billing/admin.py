"""Staff views of plans, subscriptions, the read-only ledger and the audit trail; money actions."""

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accounts.admin import AccountAdmin
from accounts.models import Account, User
from billing.models import CreditLedgerEntry, Plan, StaffMoneyAction, Subscription
from billing.services import credits_grant_by_staff, subscription_set_plan


class StaffRequest(HttpRequest):
    """What the admin site hands an action, for the type checker: a signed-in staff User."""

    user: User


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records of money are written by services only; staff read them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


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
class SubscriptionAdmin(ReadOnlyAdmin):
    """Changed by Stripe or by the account action "Set plan…", which records a reason."""

    list_display = ["account", "plan", "status", "source", "current_period_end", "last_renewed_at"]
    list_filter = ["plan", "status", "source", "cancel_at_period_end"]
    search_fields = [
        "account__name",
        "account__memberships__user__email",
        "stripe_customer_id",
        "stripe_subscription_id",
    ]
    list_select_related = ["account", "plan"]


@admin.register(CreditLedgerEntry)
class CreditLedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "account",
        "kind",
        "amount",
        "usage",
        "balance_after",
        "reference",
        "actor",
    ]
    # "Actor is set": the movements staff made by hand.
    list_filter = ["kind", ("actor", admin.EmptyFieldListFilter), "created_at"]
    # A task's id finds its charge and refund (both carry it as their reference).
    search_fields = ["account__name", "idempotency_key", "reference", "note", "actor__email"]
    list_select_related = ["account", "actor"]
    date_hierarchy = "created_at"  # indexed


@admin.register(StaffMoneyAction)
class StaffMoneyActionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor", "account", "action", "amount", "reason"]
    list_filter = ["action", "created_at"]
    search_fields = ["account__name", "actor__email", "reason", "action"]
    list_select_related = ["actor", "account"]
    date_hierarchy = "created_at"  # indexed


class StaffReasonForm(forms.Form):
    """Every staff money action asks why; the reason is kept in its StaffMoneyAction."""

    reason = forms.CharField(label=_("Reason"), max_length=500)


class GrantCreditsForm(StaffReasonForm):
    amount = forms.IntegerField(label=_("Credits to add"), min_value=1, max_value=1_000_000)
    field_order = ["amount", "reason"]


class SetPlanForm(StaffReasonForm):
    plan = forms.ModelChoiceField(label=_("Plan"), queryset=Plan.objects.all())
    field_order = ["plan", "reason"]


ACCOUNT_ACTION_TEMPLATE = "admin/billing/account_action.html"


def staff_action_page(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    *,
    template: str,
    title: str | Promise,
    form: forms.Form,
    selected: QuerySet,
    action: str,
) -> TemplateResponse:
    """A staff action's first page (a template extending admin/staff_action.html): the objects
    it will touch and the form asking why; posting it back runs the action."""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "selected": selected,
        "action": action,
        "opts": model_admin.model._meta,
    }
    return TemplateResponse(request, template, context)


admin.site.unregister(Account)


@admin.register(Account)
class BillingAccountAdmin(AccountAdmin):
    """The accounts admin plus the two staff actions on money, each asking for a reason."""

    list_display = [
        "name",
        "id",
        "is_personal",
        "is_active",
        "plan",
        "credit_balance",
        "created_at",
    ]
    list_filter = [*AccountAdmin.list_filter, "subscription__plan", "subscription__status"]
    list_select_related = ["subscription__plan"]
    actions = ["grant_credits", "set_plan"]

    @admin.display(description=_("Plan"), ordering="subscription__plan__sort_order")
    def plan(self, account: Account) -> str:
        # Accounts staff create by hand have no subscription row yet: they are on the free plan.
        subscription = getattr(account, "subscription", None)
        return subscription.plan.name if subscription is not None else "—"

    @admin.action(description=_("Grant credits…"))
    def grant_credits(
        self, request: StaffRequest, queryset: QuerySet[Account]
    ) -> HttpResponse | None:
        form = GrantCreditsForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            for account in queryset:
                credits_grant_by_staff(
                    account=account,
                    amount=form.cleaned_data["amount"],
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                )
            self.message_user(request, _("Credits granted."), messages.SUCCESS)
            return None
        return staff_action_page(
            self,
            request,
            template=ACCOUNT_ACTION_TEMPLATE,
            title=_("Grant credits"),
            form=form,
            selected=queryset,
            action="grant_credits",
        )

    @admin.action(description=_("Set plan…"))
    def set_plan(self, request: StaffRequest, queryset: QuerySet[Account]) -> HttpResponse | None:
        form = SetPlanForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            for account in queryset:
                subscription_set_plan(
                    account=account,
                    plan=form.cleaned_data["plan"],
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            self.message_user(request, _("Plan set."), messages.SUCCESS)
            return None
        return staff_action_page(
            self,
            request,
            template=ACCOUNT_ACTION_TEMPLATE,
            title=_("Set plan"),
            form=form,
            selected=queryset,
            action="set_plan",
        )
