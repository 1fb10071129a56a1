"""Staff views of tasks, with cancel-and-refund and the refund of a failed task."""

from __future__ import annotations

from collections import Counter

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from billing.admin import StaffReasonForm, StaffRequest, staff_action_page
from imaging.models import Task
from imaging.selectors import charge_refunded
from imaging.services import StaffRefund, task_cancel, task_refund_by_staff


class RefundedFilter(admin.SimpleListFilter):
    title = _("charge refunded")
    parameter_name = "refunded"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", str(_("Yes"))), ("no", str(_("No")))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Task]) -> QuerySet[Task]:
        if self.value() in {"yes", "no"}:
            return queryset.filter(refunded=self.value() == "yes")
        return queryset


# What the staff refund action says of the tasks that came to each outcome.
REFUND_MESSAGES = {
    StaffRefund.REFUNDED: _("%(count)d failed task(s) refunded."),
    StaffRefund.ALREADY_REFUNDED: _(
        "%(count)d task(s) had been refunded already; nothing was done for them."
    ),
    StaffRefund.NOT_FAILED: _("%(count)d task(s) have not failed and were left as they were."),
    StaffRefund.NOT_CHARGED: _("%(count)d task(s) were never charged: nothing to refund."),
}
REFUND_MESSAGE_LEVELS = {
    StaffRefund.REFUNDED: messages.SUCCESS,
    StaffRefund.ALREADY_REFUNDED: messages.WARNING,
    StaffRefund.NOT_FAILED: messages.WARNING,
    StaffRefund.NOT_CHARGED: messages.WARNING,
}


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = [
        "public_id",
        "account",
        "operation",
        "source",
        "status",
        "progress",
        "attempts",
        "credits",
        "refunded",
        "error_code",
        "created_at",
        "lease_expires_at",
    ]
    # No date_hierarchy: tasks have no index on created_at alone, and its first step reads the
    # whole table's first and last dates. The created_at filter narrows by date instead.
    list_filter = ["status", RefundedFilter, "operation", "source", "queue", "created_at"]
    search_fields = [
        "public_id",
        "account__name",
        "batch__public_id",
        "api_key__prefix",
        "submitted_by__email",
        "error_code",
    ]
    list_select_related = ["account"]
    raw_id_fields = ["batch", "charge"]
    actions = ["cancel_and_refund", "refund_failed"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Task]:
        return super().get_queryset(request).annotate(refunded=charge_refunded())

    def get_readonly_fields(self, request: HttpRequest, obj: Task | None = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]  # state moves via services

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # its charge and refund stay explained by the row

    @admin.display(description=_("Refunded"), boolean=True, ordering="refunded")
    def refunded(self, task: Task) -> bool | None:
        if task.charge_id is None:
            return None  # nothing was charged
        return bool(getattr(task, "refunded", False))

    @admin.action(description=_("Cancel and refund selected tasks"), permissions=["change"])
    def cancel_and_refund(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        cancelled = 0
        for task in queryset.select_related("account"):
            if task.is_finished:
                continue  # finished, or cancelled before: nothing to stop or refund
            stopped = task_cancel(
                account=task.account, public_id=task.public_id, even_if_running=True
            )
            cancelled += stopped.status == Task.Status.CANCELLED
        self.message_user(
            request,
            _("%(count)d task(s) cancelled and refunded; finished ones are left as they were.")
            % {"count": cancelled},
            messages.SUCCESS,
        )

    @admin.action(description=_("Refund selected failed tasks…"), permissions=["change"])
    def refund_failed(self, request: StaffRequest, queryset: QuerySet[Task]) -> HttpResponse | None:
        """A failed task whose charge was never refunded gets its credits back, once, audited
        like a staff grant; asks for the reason first."""
        form = StaffReasonForm(request.POST if "apply" in request.POST else None)
        tasks = queryset.select_related("account", "charge")
        if not form.is_valid():
            return staff_action_page(
                self, request, template="admin/imaging/task_refund.html",
                title=_("Refund failed tasks"), form=form, selected=tasks, action="refund_failed",
            )  # fmt: skip
        reason = form.cleaned_data["reason"]
        outcome = Counter(
            task_refund_by_staff(task=task, actor=request.user, reason=reason) for task in tasks
        )
        for kind, level in REFUND_MESSAGE_LEVELS.items():
            if outcome[kind]:
                self.message_user(request, REFUND_MESSAGES[kind] % {"count": outcome[kind]}, level)
        return None
