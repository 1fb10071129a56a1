"""Deploy checks of our own (`manage.py check --deploy`): the middleware the pages need is
installed, Django's security checks see our subclasses of its middleware, and the pages'
Content-Security-Policy runs no injected script."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register
from django.core.checks.security import base as security_checks
from django.core.checks.security import csrf as csrf_checks
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.module_loading import import_string

from core.middleware import ContentSecurityPolicyMiddleware

# Django's security.W001-W003 look for these dotted paths in MIDDLEWARE and cannot see the
# subclasses above (settings silence them); these checks look for the classes instead.
_REQUIRED_FOR_DEPLOY = {
    "nanobanana.W001": (SecurityMiddleware, "security headers (HSTS, nosniff, SSL redirect)"),
    "nanobanana.W002": (XFrameOptionsMiddleware, "X-Frame-Options on the dashboard's pages"),
    "nanobanana.W003": (CsrfViewMiddleware, "CSRF protection on the dashboard's forms"),
    "nanobanana.W004": (ContentSecurityPolicyMiddleware, "Content-Security-Policy on the pages"),
}
# Any of these in script-src (or default-src, its fallback) lets injected markup run script.
_UNSAFE_SCRIPT_SOURCES = {"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"}


def _installs(required: type) -> bool:
    installed = [import_string(path) for path in settings.MIDDLEWARE]
    return any(isinstance(cls, type) and issubclass(cls, required) for cls in installed)


@register(Tags.security, deploy=True)
def required_middleware_check(app_configs: Any, **kwargs: Any) -> list[Warning]:
    return [
        Warning(f"No subclass of {required.__name__} in MIDDLEWARE: no {what}.", id=check_id)
        for check_id, (required, what) in _REQUIRED_FOR_DEPLOY.items()
        if not _installs(required)
    ]


# Django's checks of the settings these middleware read (HSTS, SSL redirect, nosniff, secure CSRF
# cookie, ...) also pass without looking when the dotted path is not in MIDDLEWARE: they are run
# here as if it were, for each middleware a subclass of ours stands in for.
_SETTINGS_CHECKS: dict[type, tuple[Callable[..., list[Any]], ...]] = {
    SecurityMiddleware: (
        security_checks.check_sts,
        security_checks.check_sts_include_subdomains,
        security_checks.check_sts_preload,
        security_checks.check_content_type_nosniff,
        security_checks.check_ssl_redirect,
        security_checks.check_referrer_policy,
        security_checks.check_cross_origin_opener_policy,
    ),
    XFrameOptionsMiddleware: (security_checks.check_xframe_deny,),
    CsrfViewMiddleware: (csrf_checks.check_csrf_cookie_secure,),
}


@register(Tags.security, deploy=True)
def middleware_settings_check(app_configs: Any, **kwargs: Any) -> list[Any]:
    from django.test.utils import override_settings  # the supported way to change a setting

    found: list[Any] = []
    for required, checks in _SETTINGS_CHECKS.items():
        if _installs(required):
            dotted = f"{required.__module__}.{required.__qualname__}"
            with override_settings(MIDDLEWARE=[*settings.MIDDLEWARE, dotted]):
                found += [message for check in checks for message in check(app_configs)]
    return found


@register(Tags.security, deploy=True)
def content_security_policy_check(app_configs: Any, **kwargs: Any) -> list[Warning]:
    policy = settings.CONTENT_SECURITY_POLICY
    scripts = [*policy.get("script-src", policy.get("default-src", ["*"]))]
    for extra in settings.CONTENT_SECURITY_POLICY_EXTRA.values():
        scripts += extra.get("script-src", [])
    unsafe = sorted(_UNSAFE_SCRIPT_SOURCES.intersection(scripts))
    if not unsafe:
        return []
    return [
        Warning(
            f"CONTENT_SECURITY_POLICY lets pages run injected script: {', '.join(unsafe)}.",
            hint="Move inline script into a static file or give it the request's csp_nonce.",
            id="nanobanana.W005",
        )
    ]
