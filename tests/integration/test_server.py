"""Black-box: the served app and a real worker, driven as an operator and a client would."""

import re
import subprocess
import sys
import time

import pytest

from tests.integration.conftest import ROOT, Stack

pytestmark = pytest.mark.integration


def issue_key(stack: Stack, *args: str) -> str:
    out = stack.manage("issue_api_key", *args).stdout
    return out.strip().splitlines()[-1]


def test_healthz_sees_database_and_broker(stack: Stack) -> None:
    status, _headers, body = stack.request("/healthz")
    assert status == 200, body
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]


def test_a_cli_key_reads_its_account_over_http(stack: Stack) -> None:
    key = issue_key(stack, "--email", "ops@example.com", "--plan", "pro", "--credits", "850")
    assert re.fullmatch(r"nk_live_[0-9A-Za-z]{43}", key)
    status, headers, body = stack.request("/v1/account", {"Authorization": f"Bearer {key}"})
    assert status == 200
    assert body["email"] == "ops@example.com"
    assert body["subscription"]["plan"] == "pro"
    assert body["credits"]["balance"] == 850
    assert re.fullmatch(r"req_[0-9a-f]{24}", headers["X-Request-ID"])


def test_a_bad_key_gets_the_envelope_in_chinese(stack: Stack) -> None:
    status, _headers, body = stack.request(
        "/v1/account",
        {"Authorization": "Bearer nk_live_nope", "Accept-Language": "zh-CN"},
    )
    assert status == 401
    assert body["error"] == {
        "code": "INVALID_API_KEY",
        "message": "API密钥无效或已过期",
        "details": "API密钥格式错误",
    }


def test_the_worker_consumes_tasks_from_the_broker(stack: Stack) -> None:
    """A task sent by another process is picked up and run by the worker process."""
    marker = f"it-{time.time_ns()}"
    send = (
        "import django; django.setup(); from config.celery import app; "
        f"app.send_task('celery.accumulate', args=['{marker}'])"
    )
    subprocess.run([sys.executable, "-c", send], cwd=ROOT, env=stack.env, check=True, timeout=60)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        log = stack.worker_log.read_text()
        if re.search(r"Task celery\.accumulate\[[^\]]+\] succeeded", log):
            return
        time.sleep(0.3)
    pytest.fail(f"the worker never ran the task; its log:\n{stack.worker_log.read_text()}")
