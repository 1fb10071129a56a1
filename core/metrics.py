"""Prometheus metrics: the one definition of every metric, the request middleware, who may scrape,
and the endpoint a worker serves of its own.

Web and worker processes are separate: with PROMETHEUS_MULTIPROC_DIR set (prometheus_client's own
variable, read once when it is imported) every process writes its values to files in that folder
and any scrape on the host adds them up, so the web's /metrics shows what the workers of its host
counted. A worker on another host serves them itself on METRICS_WORKER_PORT.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from enum import StrEnum
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from celery import bootsteps
from celery.signals import task_postrun, worker_process_shutdown
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from core.errors import ApplicationError, InvalidApiKey, NotFound, error_body
from core.hybrid_middleware import HybridMiddleware

logger = logging.getLogger(__name__)

MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")

# --- HTTP (RequestMetricsMiddleware) ---------------------------------------------------------
# The route is the URL pattern that matched (`/v1/task/<str:task_id>`), never the path: one
# series per pattern, however many ids clients send.
UNMATCHED_ROUTE = "<unmatched>"
STATIC_ROUTE = "<static>"  # answered by WhiteNoise before any URL pattern is tried
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
HTTP_REQUESTS = Counter(
    "nanobanana_http_requests",
    "HTTP requests answered, by method, URL pattern and status code.",
    ["method", "route", "status"],
)
# Up to a minute: an image POST may wait API_SYNC_WAIT_SECONDS for its result.
HTTP_REQUEST_DURATION = Histogram(
    "nanobanana_http_request_duration_seconds",
    "Time from a request reaching Django to its response, by method and URL pattern.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)

# --- Image tasks (imaging.services, when a finish commits) ------------------------------------
TASKS_FINISHED = Counter(
    "nanobanana_tasks_finished",
    "Image tasks finished, by operation and outcome (completed, failed, cancelled).",
    ["operation", "outcome"],
)
TASK_QUEUE_WAIT = Histogram(
    "nanobanana_task_queue_wait_seconds",
    "From a task's submission to its (last) start on a worker, by operation.",
    ["operation"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
TASK_RUN = Histogram(
    "nanobanana_task_run_seconds",
    "From a task's (last) start on a worker to its finish, by operation and outcome.",
    ["operation", "outcome"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)

# --- Credits (billing.services, when the movement commits) -------------------------------------
CREDITS_CHARGED = Counter(
    "nanobanana_credits_charged",
    "Credits that submitted work cost (the ledger's usage; unlimited plans included).",
)
CREDITS_REFUNDED = Counter(
    "nanobanana_credits_refunded",
    "Credits given back for failed or cancelled work.",
)

# --- Webhooks (webhooks.services) --------------------------------------------------------------
# Per attempt: `retrying` is a failed attempt with another one scheduled; `succeeded` and `failed`
# end a delivery, so their sum counts finished deliveries.
WEBHOOK_ATTEMPTS = Counter(
    "nanobanana_webhook_attempts",
    "Webhook delivery attempts, by outcome (succeeded, retrying, failed).",
    ["outcome"],
)

# --- Broker queues (read at scrape time: QueueDepthCollector) ----------------------------------
QUEUE_DEPTH_NAME = "nanobanana_queue_depth"
QUEUE_DEPTH_HELP = "Messages waiting in each broker queue, read when scraped."


# --- GPU memory (a worker process, after each task) --------------------------------------------
class _GpuMemory:
    """Gauges of the CUDA memory this process holds; made only once it uses CUDA, so CPU hosts
    and CPU-only processes expose no GPU series at all."""

    def __init__(self) -> None:
        self._gauges: tuple[Gauge, Gauge] | None = None

    def observe(self) -> None:
        torch: Any = sys.modules.get("torch")
        # Never initialise CUDA here: a process that has not touched it yet has nothing to show.
        if torch is None or not torch.cuda.is_initialized():
            return
        if self._gauges is None:
            # livesum: on one host, the memory of its live worker processes, per device.
            self._gauges = (
                Gauge(
                    "nanobanana_gpu_memory_allocated_bytes",
                    "CUDA memory held by tensors of the worker processes, per device.",
                    ["device"],
                    multiprocess_mode="livesum",
                ),
                Gauge(
                    "nanobanana_gpu_memory_reserved_bytes",
                    "CUDA memory reserved by the caching allocator of the worker processes.",
                    ["device"],
                    multiprocess_mode="livesum",
                ),
            )
        allocated, reserved = self._gauges
        for index in range(torch.cuda.device_count()):
            device = f"cuda:{index}"
            allocated.labels(device=device).set(torch.cuda.memory_allocated(index))
            reserved.labels(device=device).set(torch.cuda.memory_reserved(index))


gpu_memory = _GpuMemory()


@task_postrun.connect(weak=False)
def _task_ran(**_kwargs: object) -> None:
    try:
        gpu_memory.observe()
    except Exception:  # metrics never fail a task
        logger.warning("could not read the GPU memory", exc_info=True)


@worker_process_shutdown.connect(weak=False)
def _worker_process_ends(**_kwargs: object) -> None:
    # The live* gauges of a pool process that exits must stop counting.
    if MULTIPROCESS_DIR:
        multiprocess.mark_process_dead(os.getpid())


class QueueDepthCollector(Collector):
    """`nanobanana_queue_depth{queue}` from `depths()` at each scrape (the broker's own counts).
    A broker that cannot be read contributes no samples, and the scrape still answers."""

    def __init__(self, depths: Callable[[], Mapping[str, int]]) -> None:
        self.depths = depths

    def collect(self) -> Iterator[Metric]:
        try:
            depths = self.depths()
        except Exception as error:  # a scrape must answer whatever the broker does
            logger.warning("queue depths unavailable: %s", error)
            return
        family = GaugeMetricFamily(QUEUE_DEPTH_NAME, QUEUE_DEPTH_HELP, labels=["queue"])
        for queue, depth in sorted(depths.items()):
            family.add_metric([queue], depth)
        yield family


class _Forward(Collector):
    """Another registry's metrics, as one collector of a scrape's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        return self.registry.collect()


def metrics_exposition(*collectors: Collector) -> bytes:
    """What a scrape answers (Prometheus' text format): this process's metrics, or in
    multiprocess mode those of every process sharing PROMETHEUS_MULTIPROC_DIR, plus
    `collectors` read now."""
    registry = CollectorRegistry()
    if MULTIPROCESS_DIR:
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Forward(REGISTRY))
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry)


METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST


# --- Who may scrape ----------------------------------------------------------------------------
class MetricsAccess(StrEnum):
    ALLOWED = "allowed"
    HIDDEN = "hidden"  # 404: a remote client, and no METRICS_TOKEN to offer it
    DENIED = "denied"  # 403: a remote client without the right token


# A request relayed by a proxy on this host arrives from loopback; these headers give it away.
_PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def metrics_access(meta: Mapping[str, Any]) -> MetricsAccess:
    """Whether a scrape may read the metrics, from its CGI-style environment (Django's
    `request.META` or a WSGI environ): a direct loopback client may; anyone else only with
    `Authorization: Bearer <METRICS_TOKEN>` when that setting is set."""
    token = settings.METRICS_TOKEN
    if token:
        scheme, _sep, given = str(meta.get("HTTP_AUTHORIZATION", "")).partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return MetricsAccess.ALLOWED
    proxied = any(meta.get(header) for header in _PROXY_HEADERS)
    if _is_loopback(str(meta.get("REMOTE_ADDR", ""))) and not proxied:
        return MetricsAccess.ALLOWED
    return MetricsAccess.DENIED if token else MetricsAccess.HIDDEN


class MetricsTokenRequired(InvalidApiKey):
    """403: the envelope's code for a missing or wrong credential, on a page with no API key."""

    http_status = 403


def metrics_refusal(access: MetricsAccess) -> ApplicationError | None:
    """The envelope's error for a refused scrape; None when it is allowed."""
    if access == MetricsAccess.HIDDEN:
        return NotFound()
    if access == MetricsAccess.DENIED:
        return MetricsTokenRequired("Send 'Authorization: Bearer <METRICS_TOKEN>'.")
    return None


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1 from a dual-stack socket
    return (mapped or ip).is_loopback


# --- The middleware ----------------------------------------------------------------------------
def request_route(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return STATIC_ROUTE if request.path.startswith(settings.STATIC_URL) else UNMATCHED_ROUTE
    return "/" + str(match.route)


class RequestMetricsMiddleware(HybridMiddleware):
    """Counts and times every request by its URL pattern; async-capable like the whole chain."""

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if self.is_async:
            return self._acall(request)
        started = time.perf_counter()
        response = self.get_response(request)
        _request_observe(request, response, started)
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = await self.get_response(request)
        _request_observe(request, response, started)
        return response


def _request_observe(request: HttpRequest, response: HttpResponse, started: float) -> None:
    method = request.method if request.method in _METHODS else "other"
    route = request_route(request)
    HTTP_REQUESTS.labels(method=method, route=route, status=str(response.status_code)).inc()
    HTTP_REQUEST_DURATION.labels(method=method, route=route).observe(time.perf_counter() - started)


# --- A worker's own endpoint -------------------------------------------------------------------
def _metrics_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """The worker endpoint (any path): the same access rule and envelope as the web's."""
    error = metrics_refusal(metrics_access(environ))
    if error is not None:
        body = json.dumps(error_body(error)).encode()
        start_response(f"{error.http_status} Refused", [("Content-Type", "application/json")])
        return [body]
    start_response("200 OK", [("Content-Type", METRICS_CONTENT_TYPE)])
    return [metrics_exposition()]


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per scrape would drown the worker's log


def metrics_server_start(*, port: int, address: str) -> WSGIServer:
    """Serve the metrics on `address`:`port` from a daemon thread; the server, to shut down."""
    family = socket.getaddrinfo(address or None, port, type=socket.SOCK_STREAM)[0][0]
    server_class = type("MetricsServer", (_ThreadingWSGIServer,), {"address_family": family})
    server: WSGIServer = make_server(
        address, port, _metrics_app, server_class=server_class, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, name="metrics-server", daemon=True).start()
    return server


class WorkerMetricsServer(bootsteps.StartStopStep):
    """Celery worker bootstep (config/celery.py): the metrics endpoint on METRICS_WORKER_PORT,
    for workers on hosts without a web process to scrape; off when the port is 0."""

    requires = ("celery.worker.components:Pool",)

    def __init__(self, parent: object, **kwargs: object) -> None:
        super().__init__(parent, **kwargs)
        self.server: WSGIServer | None = None

    def start(self, parent: Any) -> None:
        port = settings.METRICS_WORKER_PORT
        if not port:
            return
        if not MULTIPROCESS_DIR and "prefork" in getattr(parent.pool_cls, "__module__", ""):
            logger.warning(
                "METRICS_WORKER_PORT without PROMETHEUS_MULTIPROC_DIR: the pool processes' task "
                "metrics cannot be seen; set PROMETHEUS_MULTIPROC_DIR to an empty folder"
            )
        address = settings.METRICS_WORKER_ADDRESS
        try:
            self.server = metrics_server_start(port=port, address=address)
        except OSError as error:
            # Another worker of this host has the port (it shows this one's metrics too when
            # they share PROMETHEUS_MULTIPROC_DIR): work on without an endpoint of its own.
            logger.error("no metrics endpoint on %s:%s: %s", address, port, error)
            return
        logger.info("metrics on %s:%s", address, port)

    def stop(self, parent: Any) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    shutdown = stop
