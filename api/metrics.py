"""GET /metrics: Prometheus' scrape of this host's processes, with the broker's queue depths read
now; loopback clients, or a bearer METRICS_TOKEN (core.metrics says who may)."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from api.errors import envelope_response
from core.metrics import (
    METRICS_CONTENT_TYPE,
    QueueDepthCollector,
    metrics_access,
    metrics_exposition,
    metrics_refusal,
)
from imaging.broker import queue_depths


@never_cache
@require_GET
async def metrics(request: HttpRequest) -> HttpResponse:
    error = metrics_refusal(metrics_access(request.META))
    if error is not None:
        return envelope_response(error)
    # Off the event loop and off the one thread sync views share: the broker may be slow.
    body = await sync_to_async(metrics_exposition, thread_sensitive=False)(
        QueueDepthCollector(queue_depths)
    )
    return HttpResponse(body, content_type=METRICS_CONTENT_TYPE)
