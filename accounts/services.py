"""State changes for users, accounts and API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, ApiKey, Invitation, Membership, User, random_base62
from accounts.selectors import api_key_get_by_digest, membership_can_manage
from accounts.signals import account_created
from core.errors import InvalidApiKey, InvalidRequest, NotFound

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


# --- Teams: members share an account's credits, keys and history ---------------------------------
#
# Rules: owners and admins invite, change roles and remove members; only owners grant or take away
# the owner role or remove an owner; an account always keeps an owner; nobody leaves their own
# personal account. An invitation is a link with a secret token (only its digest is stored),
# valid INVITATION_DAYS, accepted once by a signed-in user whose email it was sent to.

INVITATION_DAYS = 7


def team_create(*, owner: User, name: str) -> Account:
    name = name.strip()
    if not name:
        raise InvalidRequest(_("A team needs a name."))
    return account_create(owner=owner, name=name, is_personal=False)


def invitation_send(
    *, actor: Membership, email: str, role: str, accept_url: Callable[[str], str]
) -> Invitation:
    """Invite `email` as `role` and email them the link `accept_url(token)`."""
    membership_manage_check(membership=actor)
    _role_grant_check(actor=actor, role=role)
    email = email.strip().lower()
    account = actor.account
    if Membership.objects.filter(account=account, user__email__iexact=email).exists():
        raise InvalidRequest(_("%(email)s is already a member.") % {"email": email})
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        account=account,
        email=email,
        role=role,
        digest=_token_digest(token),
        invited_by=actor.user,
        expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
    )
    context = {
        "inviter": actor.user.email,
        "account": account.name,
        "role": Membership.Role(role).label,
        "url": accept_url(token),
        "days": INVITATION_DAYS,
    }
    send_mail(
        subject=_("%(inviter)s invited you to %(account)s on Nano Banana") % context,
        message=_(
            "%(inviter)s invited you to join %(account)s on Nano Banana as %(role)s.\n\n"
            "Accept the invitation (sign up or log in with this email address first):\n"
            "%(url)s\n\nThe link is valid for %(days)d days."
        )
        % context,
        from_email=None,
        recipient_list=[email],
    )
    return invitation


def invitation_open_get(*, token: str) -> Invitation:
    """The open invitation behind a link's token; NotFound when unknown, used or expired."""
    invitation = (
        Invitation.unscoped_objects.select_related("account", "invited_by")
        .filter(digest=_token_digest(token))
        .first()
    )
    if invitation is None or not invitation.is_open:
        raise NotFound(_("This invitation link is invalid, used or expired."))
    return invitation


def invitation_accept(*, user: User, token: str) -> Membership:
    invitation = invitation_open_get(token=token)
    if invitation.email.lower() != user.email.lower():
        raise PermissionDenied(
            _("This invitation was sent to %(email)s: log in with that address to accept it.")
            % {"email": invitation.email}
        )
    with transaction.atomic():
        # Conditional: a link clicked twice at once adds the membership once.
        taken = Invitation.unscoped_objects.filter(
            pk=invitation.pk, accepted_at__isnull=True
        ).update(accepted_at=timezone.now(), accepted_by=user)
        if not taken:
            raise NotFound(_("This invitation link is invalid, used or expired."))
        membership, _created = Membership.objects.get_or_create(
            account=invitation.account, user=user, defaults={"role": invitation.role}
        )
    return membership


def invitation_revoke(*, actor: Membership, invitation_id: int) -> None:
    membership_manage_check(membership=actor)
    Invitation.objects.for_account(actor.account).filter(
        pk=invitation_id, accepted_at__isnull=True
    ).delete()


def membership_role_set(*, actor: Membership, member_id: int, role: str) -> Membership:
    membership_manage_check(membership=actor)
    target = _member_get(actor=actor, member_id=member_id)
    _role_grant_check(actor=actor, role=role)
    if target.role == Membership.Role.OWNER:
        _owner_change_check(actor=actor, target=target)
    target.role = role
    target.save(update_fields=["role"])
    return target


def membership_remove(*, actor: Membership, member_id: int) -> None:
    membership_manage_check(membership=actor)
    target = _member_get(actor=actor, member_id=member_id)
    _personal_leave_check(target=target)
    if target.role == Membership.Role.OWNER:
        _owner_change_check(actor=actor, target=target)
    target.delete()


def membership_leave(*, membership: Membership) -> None:
    _personal_leave_check(target=membership)
    if membership.role == Membership.Role.OWNER:
        _last_owner_check(target=membership)
    membership.delete()


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _member_get(*, actor: Membership, member_id: int) -> Membership:
    target = (
        Membership.objects.select_related("account", "user")
        .filter(account=actor.account, pk=member_id)
        .first()
    )
    if target is None:
        raise NotFound(_("No such member"))
    return target


def _role_grant_check(*, actor: Membership, role: str) -> None:
    if role not in Membership.Role.values:
        raise InvalidRequest(_("Unknown role"))
    if role == Membership.Role.OWNER and actor.role != Membership.Role.OWNER:
        raise PermissionDenied(_("Only owners can make someone an owner."))


def _owner_change_check(*, actor: Membership, target: Membership) -> None:
    if actor.role != Membership.Role.OWNER:
        raise PermissionDenied(_("Only owners can change or remove an owner."))
    _last_owner_check(target=target)


def _last_owner_check(*, target: Membership) -> None:
    owners = Membership.objects.filter(account=target.account, role=Membership.Role.OWNER)
    if not owners.exclude(pk=target.pk).exists():
        raise InvalidRequest(_("An account needs an owner: make someone else owner first."))


def _personal_leave_check(*, target: Membership) -> None:
    if target.account.is_personal and target.role == Membership.Role.OWNER:
        personal_owner = (
            Membership.objects.filter(account=target.account, role=Membership.Role.OWNER)
            .order_by("created_at")
            .first()
        )
        if personal_owner is not None and personal_owner.pk == target.pk:
            raise InvalidRequest(_("Nobody leaves or is removed from their own personal account."))
