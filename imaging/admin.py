"""Staff views of tasks, with cancel-and-refund."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from imaging.models import Task
from imaging.services import task_cancel


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = [
        "public_id",
        "account",
        "operation",
        "status",
        "progress",
        "attempts",
        "credits",
        "created_at",
        "lease_expires_at",
    ]
    list_filter = ["status", "operation", "queue", "created_at"]
    search_fields = ["public_id", "account__name", "batch__public_id"]
    list_select_related = ["account"]
    raw_id_fields = ["batch", "charge"]
    actions = ["cancel_and_refund"]

    def get_readonly_fields(self, request: HttpRequest, obj: Task | None = None):
        return [field.name for field in self.model._meta.fields]  # state moves via services

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # its charge and refund stay explained by the row

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
