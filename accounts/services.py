"""State changes for users, accounts and API keys."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, ApiKey, Membership, User, random_base62
from accounts.selectors import api_key_get_by_digest, membership_can_manage
from accounts.signals import account_created
from core.errors import InvalidApiKey, NotFound

API_KEY_PREFIX = "nk_live_"
# 43 base62 characters carry 256 bits (62**43 > 2**256): the reference's "32 random bytes".
API_KEY_SECRET_LENGTH = 43
API_KEY_DISPLAY_LENGTH = len(API_KEY_PREFIX) + 6


def api_key_digest(raw_key: str) -> str:
    """SHA-256, not a password hasher: the key is 256 random bits, so a slow hash buys nothing."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_is_well_formed(raw_key: str) -> bool:
    secret = raw_key.removeprefix(API_KEY_PREFIX)
    return (
        raw_key.startswith(API_KEY_PREFIX)
        and len(secret) == API_KEY_SECRET_LENGTH
        and secret.isascii()
        and secret.isalnum()
    )


@transaction.atomic
def account_create(*, owner: User, name: str = "", is_personal: bool = True) -> Account:
    account = Account.objects.create(name=name or owner.email, is_personal=is_personal)
    Membership.objects.create(account=account, user=owner, role=Membership.Role.OWNER)
    account_created.send(sender=Account, account=account)
    return account


@transaction.atomic
def user_create(*, email: str, password: str | None = None, name: str = "") -> User:
    """A user and their personal account, together."""
    user = User.objects.create_user(email=email, password=password, name=name)
    account_create(owner=user)
    return user


def membership_manage_check(*, membership: Membership) -> None:
    """PermissionDenied (403) unless the member may manage the account (owner or admin)."""
    if not membership_can_manage(membership=membership):
        raise PermissionDenied(_("Only the account's owners and admins can do this."))


def user_personal_account_ensure(*, user: User) -> Account:
    """The account a signed-in user's dashboard shows; created for users made outside sign-up."""
    membership = (
        Membership.objects.select_related("account")
        .filter(user=user, role=Membership.Role.OWNER, account__is_personal=True)
        .order_by("created_at")
        .first()
    )
    return membership.account if membership else account_create(owner=user)


def api_key_issue(
    *,
    account: Account,
    name: str,
    created_by: User | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its plaintext, which is never stored nor shown again."""
    raw_key = API_KEY_PREFIX + random_base62(API_KEY_SECRET_LENGTH)
    api_key = ApiKey.objects.create(
        account=account,
        name=name.strip() or "API key",
        prefix=raw_key[:API_KEY_DISPLAY_LENGTH],
        digest=api_key_digest(raw_key),
        created_by=created_by,
        expires_at=expires_at,
    )
    return api_key, raw_key


def api_key_revoke(*, account: Account, key_id: int) -> ApiKey:
    api_key = ApiKey.objects.for_account(account).filter(pk=key_id).first()
    if api_key is None:
        raise NotFound(_("No such API key"))
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


def api_key_authenticate(*, raw_key: str) -> ApiKey:
    """The live key behind `raw_key`, or InvalidApiKey saying why not.

    One indexed lookup on the digest, then checks in memory; no write in the common case.
    """
    if not api_key_is_well_formed(raw_key):
        raise InvalidApiKey(_("The API key is malformed"))
    digest = api_key_digest(raw_key)
    api_key = api_key_get_by_digest(digest=digest)
    if api_key is None or not hmac.compare_digest(api_key.digest, digest):
        raise InvalidApiKey(_("The API key does not exist"))
    if api_key.is_revoked:
        raise InvalidApiKey(_("The API key has been revoked"))
    if api_key.is_expired:
        raise InvalidApiKey(_("The API key has expired"))
    if not api_key.account.is_active:
        raise InvalidApiKey(_("The account of this API key is suspended"))
    api_key_touch(api_key=api_key)
    return api_key


def api_key_touch(*, api_key: ApiKey) -> None:
    """Record use at most once per resolution window, so most requests write nothing."""
    now = timezone.now()
    window = timedelta(seconds=settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
    if api_key.last_used_at is not None and api_key.last_used_at > now - window:
        return
    # Conditional, so concurrent requests on one key write once.
    ApiKey.unscoped_objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - window)
    ).update(last_used_at=now)
    api_key.last_used_at = now
