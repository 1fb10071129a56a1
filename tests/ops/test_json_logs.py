"""LOG_FORMAT=json: one JSON object per line, carrying the request id, the account, the task and
the Celery message where they are known."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from PIL import Image
from rest_framework.test import APIClient

from accounts.models import Account
from config.celery import app as celery_app
from core.logs import JsonFormatter, log_context, log_context_scope
from core.operations import Operation
from imaging.models import Task
from imaging.services import TaskInput, task_submit
from imaging.tasks import task_run
from tests.processes import process_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db

Lines = Callable[[str], list[dict]]


@pytest.fixture
def json_lines() -> Iterator[Lines]:
    """The JSON lines logged meanwhile (through the real formatter), by logger name, in a log
    context of the test's own (an earlier test may have run a task's code outside Celery, which
    leaves its ids bound in the thread that runs the tests)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)

    def lines(logger: str) -> list[dict]:
        parsed = [json.loads(line) for line in stream.getvalue().splitlines()]
        return [line for line in parsed if line["logger"] == logger]

    try:
        with log_context_scope():
            yield lines
    finally:
        root.removeHandler(handler)


@celery_app.task(name="tests.ops.log_a_line")
def log_a_line() -> None:
    logging.getLogger("tests.ops.task").warning("inside a task")


def test_an_api_request_logs_its_request_id_and_account(
    authed_client: APIClient, account: Account, json_lines: Lines
) -> None:
    response = authed_client.get("/v1/account", HTTP_X_REQUEST_ID="req-from-the-client")
    assert response.status_code == 200
    [line] = json_lines("api.access")
    assert line["request_id"] == "req-from-the-client" == response["X-Request-ID"]
    assert line["account_id"] == str(account.pk)
    assert line["level"] == "INFO" and "GET /v1/account 200" in line["message"]
    assert line["time"].endswith("+00:00")


def test_the_account_does_not_outlive_its_request(
    authed_client: APIClient, api_client: APIClient, json_lines: Lines
) -> None:
    authed_client.get("/v1/account")
    assert api_client.get("/v1/account").status_code == 401
    first, second = json_lines("api.access")
    assert first["account_id"] is not None
    assert second["account_id"] is None and second["request_id"] != first["request_id"]


def test_a_line_outside_any_request_has_null_ids_and_keeps_extras(json_lines: Lines) -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        logging.getLogger("tests.ops").exception("failed %s", "here", extra={"queue": "gpu"})
    [line] = json_lines("tests.ops")
    assert line["message"] == "failed here" and line["queue"] == "gpu"
    assert line["request_id"] is None and line["account_id"] is None and line["task_id"] is None
    assert "ValueError: broken" in line["exception"]


def test_a_celery_task_logs_its_message_id(json_lines: Lines) -> None:
    result = log_a_line.apply()
    [line] = json_lines("tests.ops.task")
    assert line["celery_task_id"] == result.id
    assert dict(log_context()) == {}  # nothing left once the task ended


def test_an_image_task_logs_its_task_and_account(account: Account, json_lines: Lines) -> None:
    task = task_submit(
        account=account,
        operation=Operation.ENHANCE,
        task_input=TaskInput(params={}, images=(Image.new("RGB", (16, 12), (9, 9, 9)),)),
    )
    default_storage.delete(task.input_files[0])  # the worker cannot read it: the task crashes
    result = task_run.apply(args=[task.pk])
    task.refresh_from_db()
    assert task.status == Task.Status.FAILED
    [line] = json_lines("imaging.tasks")
    assert line["level"] == "ERROR" and "crashed" in line["message"]
    assert (line["task_id"], line["account_id"]) == (task.public_id, str(account.pk))
    assert line["celery_task_id"] == result.id


def test_log_format_json_turns_the_console_into_json_lines(tmp_path: Path) -> None:
    code = "import django, logging; django.setup(); logging.getLogger('probe').warning('hello')"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=process_env(LOG_FORMAT="json", NANOBANANA_VAR_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert {"logger": "probe", "message": "hello", "level": "WARNING"}.items() <= lines[-1].items()
    assert lines[-1]["request_id"] is None
