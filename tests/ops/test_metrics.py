"""/metrics: the families after real requests, tasks, credit movements and webhook attempts; the
route label is the URL pattern; loopback clients may scrape, others only with METRICS_TOKEN."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from accounts.models import Account
from core.errors import ProcessingError
from core.metrics import gpu_memory
from core.operations import Operation
from imaging.models import Task
from imaging.services import ClaimResult, TaskInput, task_claim, task_complete, task_fail
from imaging.services import task_submit as submit_service
from tests.webhooks.conftest import Receiver
from webhooks.models import WebhookDelivery
from webhooks.services import webhook_delivery_attempt, webhook_endpoint_create

pytestmark = pytest.mark.django_db

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: Client, **extra: str) -> Samples:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def task_submit(account: Account) -> Task:
    return submit_service(
        account=account,
        operation=Operation.ENHANCE,
        task_input=TaskInput(params={}, images=(Image.new("RGB", (16, 12), (9, 9, 9)),)),
    )


def task_run_to_completion(account: Account) -> Task:
    task = task_submit(account)
    assert task_claim(task_id=task.pk) == ClaimResult.CLAIMED
    assert task_complete(
        task_id=task.pk, result_files=[], description="done", seed=1, timings={}, demo=True
    )
    return task


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Callable) -> Callable[[], AbstractContextManager]:
    """Inside, what the services do once their transaction commits (the counting) runs at the
    end, as it would in production."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_a_request_is_counted_under_its_url_pattern_not_its_path(
    client: Client, authed_client: APIClient
) -> None:
    route = "/v1/task/<str:task_id>"
    before = scrape(client)
    assert authed_client.get("/v1/task/task_doesnotexist42").status_code == 404
    after = scrape(client)
    counted = dict(method="GET", route=route, status="404")
    assert value(after, "nanobanana_http_requests_total", **counted) == (
        value(before, "nanobanana_http_requests_total", **counted) + 1
    )
    timed = dict(method="GET", route=route)
    assert value(after, "nanobanana_http_request_duration_seconds_count", **timed) == (
        value(before, "nanobanana_http_request_duration_seconds_count", **timed) + 1
    )
    assert not any("task_doesnotexist42" in str(labels) for _name, labels in after)


def test_a_request_over_asgi_is_counted_too(client: Client) -> None:
    labels = dict(method="GET", route="/v1/account", status="401")
    before = value(scrape(client), "nanobanana_http_requests_total", **labels)
    assert async_to_sync(AsyncClient().get)("/v1/account").status_code == 401
    assert value(scrape(client), "nanobanana_http_requests_total", **labels) == before + 1


def test_an_unknown_path_is_counted_as_unmatched(client: Client) -> None:
    client.get("/no/such/page/123")
    labels = dict(method="GET", route="<unmatched>", status="404")
    assert value(scrape(client), "nanobanana_http_requests_total", **labels) >= 1


def test_a_finished_task_counts_its_outcome_wait_run_and_credits(
    client: Client, account: Account, committed: Callable
) -> None:
    before = scrape(client)
    with committed():
        task_run_to_completion(account)
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("nanobanana_tasks_finished_total", operation="enhance", outcome="completed") == 1
    assert grew("nanobanana_task_queue_wait_seconds_count", operation="enhance") == 1
    assert grew("nanobanana_task_run_seconds_count", operation="enhance", outcome="completed") == 1
    assert grew("nanobanana_credits_charged_total") == 4  # what an enhance costs


def test_a_failed_task_counts_its_refund(
    client: Client, account: Account, committed: Callable
) -> None:
    with committed():
        task = task_submit(account)
        assert task_claim(task_id=task.pk) == ClaimResult.CLAIMED
    before = scrape(client)
    with committed():
        task_fail(task_id=task.pk, error=ProcessingError("boom"))
    after = scrape(client)
    failed = dict(operation="enhance", outcome="failed")
    assert value(after, "nanobanana_tasks_finished_total", **failed) == (
        value(before, "nanobanana_tasks_finished_total", **failed) + 1
    )
    assert value(after, "nanobanana_credits_refunded_total") == (
        value(before, "nanobanana_credits_refunded_total") + 4
    )


def test_a_repeated_charge_is_not_counted_twice(
    client: Client, account: Account, committed: Callable
) -> None:
    from billing.services import credits_charge

    before = value(scrape(client), "nanobanana_credits_charged_total")
    for _ in range(2):
        with committed():
            credits_charge(account=account, cost=3, idempotency_key="metrics-once")
    assert value(scrape(client), "nanobanana_credits_charged_total") == before + 3


def test_queue_depth_is_read_from_the_broker(client: Client, account: Account) -> None:
    before = value(scrape(client), "nanobanana_queue_depth", queue="cpu")
    task_submit(account)  # published to the cpu queue; no worker here takes it
    after = scrape(client)
    assert value(after, "nanobanana_queue_depth", queue="cpu") == before + 1
    assert ("nanobanana_queue_depth", frozenset({("queue", "gpu")})) in after


def test_a_webhook_attempt_is_counted_by_outcome(
    client: Client, account: Account, settings, committed: Callable
) -> None:
    settings.NANOBANANA_FETCH_ALLOW_HOSTS = ["127.0.0.1"]
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        webhook_endpoint_create(account=account, url=receiver.url, description="metrics")
        with committed():
            task = task_run_to_completion(account)  # its completion creates the delivery
        delivery = WebhookDelivery.objects.for_account(account).get(task=task)
        before = value(scrape(client), "nanobanana_webhook_attempts_total", outcome="succeeded")
        assert webhook_delivery_attempt(delivery_id=delivery.pk).status == "succeeded"
    finally:
        receiver.shutdown()
        receiver.server_close()
    after = value(scrape(client), "nanobanana_webhook_attempts_total", outcome="succeeded")
    assert after == before + 1


def test_gpu_memory_only_from_a_process_that_used_cuda(client: Client) -> None:
    gpu_memory.observe()
    gpu = [name for name, _labels in scrape(client) if name.startswith("nanobanana_gpu_")]
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        assert "nanobanana_gpu_memory_allocated_bytes" in gpu
    else:
        assert gpu == []  # CPU hosts and processes that never touched CUDA show nothing


# --- Who may scrape -------------------------------------------------------------------------------
REMOTE = {"REMOTE_ADDR": "203.0.113.9"}


def test_a_loopback_client_may_scrape_without_a_token(client: Client) -> None:
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200


def test_a_remote_client_gets_404_when_no_token_is_set(client: Client, settings) -> None:
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", **REMOTE)
    assert response.status_code == 404
    body = response.json()
    assert body["success"] is False and body["error"]["code"] == "NOT_FOUND"
    assert body["request_id"] == response["X-Request-ID"]


def test_a_remote_client_needs_the_token(client: Client, settings) -> None:
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    refused = client.get("/metrics", **REMOTE)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "INVALID_API_KEY"
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token", **REMOTE)
    assert wrong.status_code == 403
    right = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token", **REMOTE)
    assert right.status_code == 200
    assert b"nanobanana_http_requests_total" in right.content


def test_a_request_relayed_by_a_local_proxy_is_not_loopback(client: Client, settings) -> None:
    settings.METRICS_TOKEN = ""
    relayed = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert relayed.status_code == 404
