"""The middleware stack, every member async-capable so the chain stays on the event loop under
ASGI: header-only hooks run on the loop, and /v1 skips the dashboard-only ones.
Details: docs/architecture.md#where-things-live"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.locale import LocaleMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.deprecation import MiddlewareMixin
from django.utils.functional import SimpleLazyObject, empty
from whitenoise.middleware import WhiteNoiseMiddleware

from core.request_ids import is_api_path


class OnTheLoopMixin:
    """For a `MiddlewareMixin` whose hooks do no I/O: under ASGI they run on the event loop."""

    get_response: Callable[[HttpRequest], Any]  # set by the MiddlewareMixin it is mixed into

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        response = self.process_request(request) if hasattr(self, "process_request") else None
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            response = self.process_response(request, response)
        return response


class DashboardOnlyMixin:
    """For a `MiddlewareMixin` the dashboard needs and the API does not: /v1 skips it."""

    # Set by the MiddlewareMixin it is mixed into, as is what super() reaches below.
    get_response: Callable[[HttpRequest], Any]
    async_mode: bool

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        super().__init__(get_response)  # type: ignore[call-arg]
        view_hook = getattr(self, "process_view", None)
        if view_hook is not None:
            # The handler calls process_view itself (not through __call__), on a thread unless
            # it is a coroutine function: skip it for /v1 there too.
            self.process_view = (
                _async_view_hook(view_hook) if self.async_mode else _sync_view_hook(view_hook)
            )

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if is_api_path(request.path):
            return self.get_response(request)
        return super().__call__(request)  # type: ignore[misc]


def _async_view_hook(hook: Callable[..., HttpResponse | None]) -> Callable[..., Any]:
    threaded = sync_to_async(hook, thread_sensitive=True)

    async def process_view(request: HttpRequest, *args: Any) -> HttpResponse | None:
        return None if is_api_path(request.path) else await threaded(request, *args)

    return process_view


def _sync_view_hook(hook: Callable[..., HttpResponse | None]) -> Callable[..., Any]:
    def process_view(request: HttpRequest, *args: Any) -> HttpResponse | None:
        return None if is_api_path(request.path) else hook(request, *args)

    return process_view


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, async-capable: the file lookup is a dict read, and only a request that is for
    a static file goes to a thread (to open it)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any], **kwargs: Any) -> None:
        super().__init__(get_response, **kwargs)
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if self.async_mode:
            return self._acall(request)
        return super().__call__(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        if self.autorefresh:  # development: finding a file reads the disk
            static_file = await sync_to_async(self.find_file)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is None:
            return await self.get_response(request)
        return await sync_to_async(self.serve)(static_file, request)


class OnTheLoopSecurityMiddleware(OnTheLoopMixin, SecurityMiddleware):
    pass


class OnTheLoopLocaleMiddleware(OnTheLoopMixin, LocaleMiddleware):
    pass


class OnTheLoopCommonMiddleware(OnTheLoopMixin, CommonMiddleware):
    pass


class OnTheLoopXFrameOptionsMiddleware(OnTheLoopMixin, XFrameOptionsMiddleware):
    pass


class DashboardOnlySessionMiddleware(DashboardOnlyMixin, SessionMiddleware):
    pass


class DashboardOnlyCsrfViewMiddleware(DashboardOnlyMixin, CsrfViewMiddleware):
    pass


class DashboardOnlyAuthenticationMiddleware(DashboardOnlyMixin, AuthenticationMiddleware):
    pass


class DashboardOnlyMessageMiddleware(DashboardOnlyMixin, MessageMiddleware):
    pass


# --- Content-Security-Policy --------------------------------------------------------------------

CSP_HEADER = "Content-Security-Policy"


class CspNonce(SimpleLazyObject):
    """`request.csp_nonce`: made the first time a template reads it, so only a page that carries
    an inline script (Swagger UI's setup) has a nonce in its policy."""

    _wrapped: object  # SimpleLazyObject's own; django-stubs leave it out

    def __init__(self) -> None:
        super().__init__(lambda: secrets.token_urlsafe(18))

    @property
    def used(self) -> bool:
        return self._wrapped is not empty


def content_security_policy(path: str, nonce: str | None = None) -> str:
    """CONTENT_SECURITY_POLICY with what CONTENT_SECURITY_POLICY_EXTRA adds under `path`."""
    directives = {name: list(sources) for name, sources in settings.CONTENT_SECURITY_POLICY.items()}
    for prefix, extra in settings.CONTENT_SECURITY_POLICY_EXTRA.items():
        if path.startswith(prefix):
            for name, sources in extra.items():
                directives.setdefault(name, []).extend(sources)
    if nonce is not None:
        directives.setdefault("script-src", []).append(f"'nonce-{nonce}'")
    return "; ".join(" ".join([name, *sources]) for name, sources in directives.items())


class ContentSecurityPolicyMiddleware(DashboardOnlyMixin, OnTheLoopMixin, MiddlewareMixin):
    """The dashboard's pages run only our own static scripts (Django 5.2 has no CSP of its own;
    6.0's SECURE_CSP would replace this). The JSON API under /v1 renders no HTML and skips it."""

    def process_request(self, request: HttpRequest) -> None:
        request.csp_nonce = CspNonce()  # type: ignore[attr-defined]  # read by templates

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if CSP_HEADER not in response:
            nonce = getattr(request, "csp_nonce", None)
            used = str(nonce) if nonce is not None and nonce.used else None
            response[CSP_HEADER] = content_security_policy(request.path, used)
        return response
