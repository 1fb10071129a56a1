"""ASGI entry point (uvicorn): the image endpoints wait for their tasks without holding a thread."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

django_application = get_asgi_application()

from core.request_limits import request_limits  # noqa: E402 (needs django.setup())
from imaging.notifications import loop_serves_requests  # noqa: E402 (needs django.setup())

# Oversized headers (431) and bodies that never finish arriving (408) are refused before Django.
limited_application = request_limits(django_application)


async def application(scope: dict, receive, send) -> None:
    # The server's loop lives as long as the server: requests waiting on it may share one
    # watcher (see imaging.notifications).
    loop_serves_requests()
    await limited_application(scope, receive, send)
