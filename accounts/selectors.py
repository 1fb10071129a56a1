"""Reads of users, accounts and API keys."""

from django.db.models import Case, F, QuerySet, Value, When

from accounts.models import Account, ApiKey, Membership, User
from core.prepared import PreparedLookup

# Compiled once per process: building this join's SQL on every request cost more CPU than
# running it (core/prepared.py). The plan comes along: the rate limit, the file limits and the
# charge all need it (billing.account_plan).
_api_key_by_digest: PreparedLookup[ApiKey] = PreparedLookup(
    lambda digest: (
        ApiKey.unscoped_objects.select_related("account__subscription__plan")
        .filter(digest=digest)
        .order_by()
    )
)


def api_key_get_by_digest(*, digest: str) -> ApiKey | None:
    """The one indexed lookup of authentication; unscoped because the key names the tenant."""
    return _api_key_by_digest.get(digest)


def user_memberships(*, user: User) -> QuerySet[Membership]:
    """The accounts a user belongs to: the personal one first, then teams by name."""
    return (
        Membership.objects.select_related("account")
        .filter(user=user)
        .order_by("-account__is_personal", "account__name", "account_id")
    )


def membership_get(*, user: User, account_id: int) -> Membership | None:
    return user_memberships(user=user).filter(account_id=account_id).first()


def account_members(*, account: Account) -> QuerySet[Membership]:
    """Owners first, then admins, then members; by email within a role."""
    order = {Membership.Role.OWNER: 0, Membership.Role.ADMIN: 1, Membership.Role.MEMBER: 2}
    rank = Case(*[When(role=role, then=Value(n)) for role, n in order.items()])
    return (
        Membership.objects.select_related("user")
        .filter(account=account)
        .order_by(rank, "user__email")
    )


def membership_can_manage(*, membership: Membership) -> bool:
    """Owners and admins manage keys, webhooks, billing and members; members use the account."""
    return membership.role in {Membership.Role.OWNER, Membership.Role.ADMIN}


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
