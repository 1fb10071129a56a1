"""`Authorization: Bearer nk_live_…` for every /v1 endpoint."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.models import Account, ApiKey
from accounts.services import api_key_authenticate
from core.errors import InvalidApiKey
from core.logs import log_context_bind


@dataclass(frozen=True)
class ApiClient:
    """`request.user` under /v1: an account acting through one of its keys."""

    account: Account
    api_key: ApiKey = field(repr=False)
    is_authenticated: bool = True
    is_anonymous: bool = False


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiClient, ApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None  # HasApiKey then answers 401 "missing"
        scheme, _sep, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise exceptions.AuthenticationFailed(
                _("The Authorization header must be 'Bearer <API key>'")
            )
        try:
            api_key = api_key_authenticate(raw_key=token)
        except InvalidApiKey as error:
            raise exceptions.AuthenticationFailed(error.details) from error
        log_context_bind(account_id=api_key.account_id)  # the rest of the request's log lines
        return ApiClient(account=api_key.account, api_key=api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class HasApiKey(BasePermission):
    """Every /v1 endpoint needs a key; without one DRF raises NotAuthenticated (401)."""

    def has_permission(self, request: Request, view: object) -> bool:
        return isinstance(request.auth, ApiKey)
