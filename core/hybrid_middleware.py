"""The base of our own middlewares: each runs in the sync or the async chain, as Django builds it
(an ASGI request through async middlewares never pays for a thread hop in ours)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest


class HybridMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            # As Django's docs do for a middleware instance; asgiref types it for functions.
            markcoroutinefunction(self)  # type: ignore[type-var]
