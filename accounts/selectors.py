"""Reads of users, accounts and API keys."""

from django.db.models import F, QuerySet

from accounts.models import Account, ApiKey, Membership, User


def api_key_get_by_digest(*, digest: str) -> ApiKey | None:
    """The one indexed lookup of authentication; unscoped because the key names the tenant."""
    try:
        # .get() on the unique digest: no ORDER BY, unlike .first(). The plan comes along: the
        # rate limit, the file limits and the charge all need it (billing.account_plan).
        return ApiKey.unscoped_objects.select_related("account__subscription__plan").get(
            digest=digest
        )
    except ApiKey.DoesNotExist:
        return None


def api_key_list(*, account: Account) -> QuerySet[ApiKey]:
    # Live keys first, newest first; revoked ones after.
    return ApiKey.objects.for_account(account).order_by(
        F("revoked_at").asc(nulls_first=True), "-created_at"
    )


def account_owner(*, account: Account) -> User | None:
    membership = (
        Membership.objects.select_related("user")
        .filter(account=account, role=Membership.Role.OWNER)
        .order_by("created_at")
        .first()
    )
    return membership.user if membership else None
