"""Tenant scoping that fails closed: tenant-owned rows are only reachable through their Account."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models

if TYPE_CHECKING:
    from accounts.models import Account


class TenantScopeError(RuntimeError):
    """A tenant-owned model was queried without naming the account it belongs to."""


class TenantScopedManager(models.Manager):
    """`Model.objects` of every tenant-owned model.

    Every read starts from `.for_account(account)`; anything else raises. The one explicit bypass
    is `Model.unscoped_objects` (Django internals, staff admin, and authentication, where the
    tenant is what is being looked up).
    """

    def get_queryset(self) -> models.QuerySet:
        raise TenantScopeError(
            f"{self.model.__name__}.objects must be scoped: use .for_account(account)"
        )

    def for_account(self, account: Account) -> models.QuerySet:
        if account is None or account.pk is None:
            raise TenantScopeError(f"{self.model.__name__}: no account to scope to")
        return super().get_queryset().filter(account=account)

    def create(self, **kwargs: Any) -> models.Model:
        if kwargs.get("account") is None:
            raise TenantScopeError(f"{self.model.__name__}: rows are created for an account")
        obj = self.model(**kwargs)
        obj.save(force_insert=True, using=self.db)
        return obj


class TenantOwnedModel(models.Model):
    """Base of every model that belongs to one tenant."""

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")

    unscoped_objects = models.Manager()
    objects = TenantScopedManager()

    class Meta:
        abstract = True
        default_manager_name = "unscoped_objects"
