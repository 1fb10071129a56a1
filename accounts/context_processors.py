"""What every signed-in page's header needs: the accounts to switch between, and the current one."""

from django.http import HttpRequest

from accounts.selectors import user_memberships
from accounts.web import request_membership


def account_switcher(request: HttpRequest) -> dict[str, object]:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "current_membership": request_membership(request),
        "user_memberships": user_memberships(user=request.user),
    }
