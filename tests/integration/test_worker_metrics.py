"""A real worker with METRICS_WORKER_PORT serves its own /metrics: the tasks its pool processes ran
(PROMETHEUS_MULTIPROC_DIR), which the web process of the same host shows too; remote scrapers
need METRICS_TOKEN; with LOG_FORMAT=json the worker's log is JSON lines."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import ROOT, Stack
from tests.integration.stack import free_port, wait_until

pytestmark = pytest.mark.integration

TOKEN = "worker-metrics-token"

SUBMIT = """
import django, sys; django.setup()
from PIL import Image
from accounts.models import User
from accounts.services import user_personal_account_ensure
from core.operations import Operation
from imaging.services import TaskInput, task_submit
account = user_personal_account_ensure(user=User.objects.get(email=sys.argv[1]))
task = task_submit(account=account, operation=Operation.ENHANCE, task_input=TaskInput(
    params={"enhancement_type": "color"}, images=(Image.new("RGB", (48, 32), (180, 120, 60)),)))
print(task.public_id)
"""


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, int]]:
    """The embedded stack, its worker serving metrics on all interfaces (the default address)."""
    port = free_port()
    live = Stack(
        var_dir=tmp_path_factory.mktemp("var"),
        settings={
            "METRICS_WORKER_PORT": str(port),
            "METRICS_TOKEN": TOKEN,
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path_factory.mktemp("metrics")),
            "LOG_FORMAT": "json",
        },
        worker_concurrency=2,  # prefork: the tasks run in pool processes, not the one serving
    )
    try:
        live.start()
        yield live, port
    finally:
        live.stop()


def get(url: str, token: str = "") -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (our own servers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def samples(body: bytes) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def finished(body: bytes) -> float:
    labels = frozenset({("operation", "enhance"), ("outcome", "completed")})
    return samples(body).get(("nanobanana_tasks_finished_total", labels), 0.0)


def submit(stack: Stack, email: str) -> str:
    stack.manage("issue_api_key", "--email", email, "--credits", "20")
    done = subprocess.run(
        [sys.executable, "-c", SUBMIT, email],
        cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


def outward_address() -> str | None:
    """This host's address on its default route (not loopback), when it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def test_the_worker_serves_the_tasks_its_pool_ran(observed: tuple[Stack, int]) -> None:
    stack, port = observed
    worker_url = f"http://127.0.0.1:{port}/metrics"
    status, body = get(worker_url)
    assert status == 200 and finished(body) == 0
    submit(stack, "metrics@example.com")
    wait_until(lambda: finished(get(worker_url)[1]) == 1, 90, "the task in the worker's metrics")
    worker = samples(get(worker_url)[1])
    run = frozenset({("operation", "enhance"), ("outcome", "completed")})
    assert worker[("nanobanana_task_run_seconds_count", run)] == 1
    assert worker[
        ("nanobanana_task_queue_wait_seconds_count", frozenset({("operation", "enhance")}))
    ]
    # The web process of the same host shares the folder: it shows the worker's count, and the
    # broker's queue depths read at the scrape.
    status, web = get(stack.base_url + "/metrics")
    assert status == 200 and finished(web) == 1
    assert samples(web)[("nanobanana_queue_depth", frozenset({("queue", "cpu")}))] == 0
    assert samples(web)[("nanobanana_credits_charged_total", frozenset())] == 4
    # uvicorn's requests, by pattern: the stack's start polled /healthz until it answered.
    probe = frozenset({("method", "GET"), ("route", "/healthz"), ("status", "200")})
    assert samples(web)[("nanobanana_http_requests_total", probe)] >= 1


def test_a_remote_scraper_of_the_worker_needs_the_token(observed: tuple[Stack, int]) -> None:
    address = outward_address()
    if address is None:
        pytest.skip("this host has no address besides loopback")
    _stack, port = observed
    status, body = get(f"http://{address}:{port}/metrics")
    assert status == 403 and json.loads(body)["error"]["code"] == "INVALID_API_KEY"
    status, body = get(f"http://{address}:{port}/metrics", token=TOKEN)
    assert status == 200 and b"nanobanana_tasks_finished_total" in body


def test_the_worker_logs_json_lines_naming_the_task(observed: tuple[Stack, int]) -> None:
    stack, _port = observed
    task_id = submit(stack, "logs@example.com")

    def lines() -> list[dict]:
        return [json.loads(line) for line in stack.worker_log.read_text().splitlines() if line]

    wait_until(lambda: any(line["task_id"] == task_id for line in lines()), 60, "a task's line")
    every = lines()
    assert all(
        {"time", "level", "logger", "message", "request_id"} <= line.keys() for line in every
    )
    assert any(line["message"].endswith("ready.") for line in every)
    [succeeded] = [
        line for line in every if line["task_id"] == task_id and "succeeded" in line["message"]
    ]
    assert succeeded["celery_task_id"] in succeeded["message"] and succeeded["account_id"]
