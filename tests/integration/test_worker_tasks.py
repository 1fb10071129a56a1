"""A real worker process runs submitted tasks end to end: claimed, processed, stored, billed."""

import json
import subprocess
import sys
import time

import pytest

from tests.integration.conftest import ROOT, Stack

pytestmark = pytest.mark.integration

SUBMIT = """
import django, json, sys; django.setup()
from PIL import Image
from accounts.models import User
from accounts.services import user_personal_account_ensure
from core.operations import Operation
from imaging.services import TaskInput, task_submit
account = user_personal_account_ensure(user=User.objects.get(email=sys.argv[1]))
params = json.loads(sys.argv[3])
image = Image.new("RGB", (48, 32), (180, 120, 60))
task = task_submit(account=account, operation=Operation(sys.argv[2]),
                   task_input=TaskInput(params=params, images=(image,)))
print(task.pk)
"""

STATUS = """
import django, json, sys; django.setup()
from imaging.models import Task
from billing.selectors import account_billing_summary
t = Task.unscoped_objects.get(pk=int(sys.argv[1]))
balance = account_billing_summary(account=t.account).balance
print(json.dumps({"status": t.status, "progress": t.progress, "files": t.result_files,
                  "error": t.error_code, "balance": balance}))
"""


def python(stack: Stack, code: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def wait_finished(stack: Stack, task_id: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = json.loads(python(stack, STATUS, task_id))
        if state["status"] in {"completed", "failed", "cancelled"}:
            return state
        time.sleep(0.5)
    pytest.fail(f"task {task_id} never finished; worker log:\n{stack.worker_log.read_text()}")


def test_an_enhance_task_runs_on_the_worker(stack: Stack) -> None:
    stack.manage("issue_api_key", "--email", "worker@example.com", "--credits", "20")
    task_id = python(
        stack,
        SUBMIT,
        "worker@example.com",
        "enhance",
        '{"enhancement_type": "upscale", "upscale_factor": 2}',
    )
    state = wait_finished(stack, task_id)
    assert state["status"] == "completed", state
    assert state["progress"] == 100 and len(state["files"]) == 1
    assert state["balance"] == 16  # 4 credits for enhance


def test_a_failing_task_is_refunded_and_the_worker_survives(stack: Stack) -> None:
    stack.manage("issue_api_key", "--email", "fail@example.com", "--credits", "20")
    # A style transfer needs two images; one makes the engine fail inside the worker.
    task_id = python(stack, SUBMIT, "fail@example.com", "style_transfer", "{}")
    state = wait_finished(stack, task_id)
    assert (state["status"], state["error"], state["balance"]) == ("failed", "PROCESSING_ERROR", 20)
    again = python(stack, SUBMIT, "fail@example.com", "enhance", '{"enhancement_type": "color"}')
    assert wait_finished(stack, again)["status"] == "completed"
