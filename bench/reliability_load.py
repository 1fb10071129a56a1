"""Mixed load for `make reliability`: a locustfile over every /v1 operation, some clients waiting
for the answer and some polling, recording each task it created so a checker can verify later
that every one of them finished.

    NANOBANANA_API_KEY=nb_... NANOBANANA_LOAD_TASKS_FILE=var/load-tasks.txt \\
        .venv/bin/locust -f bench/reliability_load.py --headless -u 8 -r 4 -t 60s \\
        --host http://127.0.0.1:8000 --only-summary

Environment:
- `NANOBANANA_API_KEY` (required): one key, or several separated by commas (users take them in
  turn, so one account's per-minute limit does not cap the whole load).
- `NANOBANANA_LOAD_TASKS_FILE`: every task id created (task and batch items), one per line.
- `NANOBANANA_LOAD_REPORT_FILE`: the 5xx counts and unfinished polls as JSON, for the checker.
- `NANOBANANA_LOAD_POLL_SECONDS` (180): how long a client polls one task before reporting it
  as not finished (a failure).

402, 429 and 503 are answers the service promises under pressure, not failures; every other 5xx
is a failure, and each 5xx is counted per status and per endpoint in the table printed at the end.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import os
import random
import threading
import time
from collections import Counter
from typing import Any

import gevent
from locust import HttpUser, between, events, task
from PIL import Image

API_KEYS = [
    key for key in os.environ.get("NANOBANANA_API_KEY", "").replace(" ", "").split(",") if key
]
TASKS_FILE = os.environ.get("NANOBANANA_LOAD_TASKS_FILE", "")
REPORT_FILE = os.environ.get("NANOBANANA_LOAD_REPORT_FILE", "")
POLL_SECONDS = float(os.environ.get("NANOBANANA_LOAD_POLL_SECONDS", "180"))
# Above the server's API_SYNC_WAIT_SECONDS (30 by default): a waiting client hears the 200 or
# the 202 that says it was not ready in time, never a client-side timeout.
SYNC_TIMEOUT_SECONDS = 75.0
POLL_TIMEOUT_SECONDS = 15.0
EXPECTED_REFUSALS = frozenset({402, 429, 503})
TERMINAL_TASK = frozenset({"completed", "failed", "cancelled"})
TERMINAL_BATCH = frozenset({"completed", "partial", "failed"})
ENHANCEMENTS = ("upscale", "denoise", "color")


def png_data_url(seed: int) -> str:
    """A 64x64 PNG with real content (gradient and noise), as a data URL."""
    grey = Image.linear_gradient("L").resize((64, 64)).rotate(90 * seed)
    noise = Image.effect_noise((64, 64), 40 + 20 * seed)
    image = Image.merge("RGB", (grey, noise, grey.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


CONTENT_IMAGE = png_data_url(0)
STYLE_IMAGE = png_data_url(1)
THIRD_IMAGE = png_data_url(2)


# --- what the run saw, kept for the summary and the checker ----------------------------------


class Ledger:
    """Task ids written as they are created; 5xx counted by status and by endpoint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._file = None
        self.server_errors: Counter[tuple[int, str]] = Counter()
        self.refusals: Counter[int] = Counter()  # the expected 402/429/503, all endpoints
        self.unfinished: list[str] = []

    def open(self) -> None:
        if TASKS_FILE and self._file is None:
            self._file = open(TASKS_FILE, "a", buffering=1, encoding="utf-8")  # noqa: SIM115

    def task_created(self, task_id: str | None) -> None:
        if not task_id:
            return
        with self._lock:
            if task_id in self._seen:
                return
            self._seen.add(task_id)
            if self._file is not None:
                self._file.write(task_id + "\n")

    @property
    def created(self) -> int:
        return len(self._seen)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


LEDGER = Ledger()
_keys = itertools.cycle(API_KEYS or [""])


@events.test_start.add_listener
def _test_start(environment: Any, **_kwargs: Any) -> None:
    if not API_KEYS:
        print("reliability_load: set NANOBANANA_API_KEY (one key, or several comma-separated)")
        environment.process_exit_code = 2
        if environment.runner is not None:
            environment.runner.quit()
        return
    LEDGER.open()


@events.test_stop.add_listener
def _test_stop(environment: Any, **_kwargs: Any) -> None:
    LEDGER.close()
    unexpected = sum(
        count
        for (status, _name), count in LEDGER.server_errors.items()
        if status not in EXPECTED_REFUSALS
    )
    print()
    print(f"reliability_load: {LEDGER.created} tasks created", end="")
    print(f" (ids in {TASKS_FILE})" if TASKS_FILE else " (NANOBANANA_LOAD_TASKS_FILE not set)")
    print(f"{'5xx':>5}  {'endpoint':<32} {'count':>6}  expected")
    for (status, name), count in sorted(LEDGER.server_errors.items()):
        expected = "yes" if status in EXPECTED_REFUSALS else "NO"
        print(f"{status:>5}  {name:<32} {count:>6}  {expected}")
    if not LEDGER.server_errors:
        print(f"{'-':>5}  {'(none)':<32} {0:>6}")
    refusals = ", ".join(f"{status}: {n}" for status, n in sorted(LEDGER.refusals.items()))
    print(f"expected refusals (not failures): {refusals or 'none'}")
    print(f"unexpected 5xx: {unexpected}; tasks not finished within the poll limit: ", end="")
    print(len(LEDGER.unfinished))
    if REPORT_FILE:
        report = {
            "tasks_created": LEDGER.created,
            "server_errors": [
                {"status": status, "endpoint": name, "count": count}
                for (status, name), count in sorted(LEDGER.server_errors.items())
            ],
            "unexpected_5xx": unexpected,
            "expected_refusals": {str(status): n for status, n in sorted(LEDGER.refusals.items())},
            "unfinished_tasks": LEDGER.unfinished,
        }
        with open(REPORT_FILE, "w", encoding="utf-8") as out:
            json.dump(report, out, indent=2)


# --- the clients ------------------------------------------------------------------------------


class ApiUser(HttpUser):
    """The requests every client makes; subclasses decide whether to wait or to poll."""

    abstract = True
    wait_time = between(0.5, 2.0)
    prefer_async = False

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {next(_keys)}"
        self.client.headers["Accept"] = "application/json"

    # One request, judged: expected refusals are answers, anything else >= 400 a failure.
    def call(
        self,
        method: str,
        path: str,
        *,
        name: str,
        ok: tuple[int, ...] = (),
        timeout: float = POLL_TIMEOUT_SECONDS,
        **kwargs: Any,
    ) -> tuple[int, dict, Any]:
        with self.client.request(
            method, path, name=name, catch_response=True, timeout=timeout, **kwargs
        ) as response:
            status = response.status_code
            try:
                body = response.json()
            except ValueError:
                body = {}
            if not isinstance(body, dict):
                body = {}
            if status >= 500:
                LEDGER.server_errors[(status, name)] += 1
            if status in EXPECTED_REFUSALS:
                LEDGER.refusals[status] += 1
            if status == 0:
                response.failure(f"no answer: {response.error!r}")
            elif status < 400 or status in EXPECTED_REFUSALS or status in ok:
                response.success()
            else:
                error = body.get("error") or {}
                response.failure(f"{status} {error.get('code')}: {error.get('details')}")
            return status, body, response.headers

    def submit(self, path: str, body: dict) -> None:
        """An image operation: waited for (the default) or 202 and polled (respond-async)."""
        headers = {"Prefer": "respond-async"} if self.prefer_async else {}
        timeout = POLL_TIMEOUT_SECONDS if self.prefer_async else SYNC_TIMEOUT_SECONDS
        name = f"{path} ({'async' if self.prefer_async else 'wait'})"
        status, answer, response_headers = self.call(
            "POST", path, name=name, json=body, headers=headers, timeout=timeout
        )
        LEDGER.task_created(answer.get("task_id"))
        if status == 202:
            location = response_headers.get("Location") or f"/v1/task/{answer.get('task_id')}"
            if self.prefer_async and random.random() < 0.1:
                self.cancel(answer["task_id"])
            self.poll_task(location, answer.get("task_id", "?"))
        elif status in (429, 503):
            self.back_off(response_headers)

    def back_off(self, headers: Any) -> None:
        """A 429 or 503 says when to come back (Retry-After); heed it, up to 10 s."""
        try:
            seconds = float(headers.get("Retry-After", "1"))
        except ValueError:
            seconds = 1.0
        gevent.sleep(min(max(seconds, 0.5), 10.0) * random.uniform(0.8, 1.2))

    def poll_task(self, location: str, task_id: str) -> None:
        """Poll with backoff (0.25 s, x1.6, at most 4 s) until the task finishes."""
        deadline = time.monotonic() + POLL_SECONDS
        delay = 0.25
        while time.monotonic() < deadline:
            gevent.sleep(delay)
            status, body, headers = self.call("GET", location, name="/v1/task/{id}")
            if status == 200 and body.get("status") in TERMINAL_TASK:
                return
            if status in (429, 503):
                self.back_off(headers)
            elif status >= 400:
                return  # already a failure in the stats; polling a 404 again helps no one
            delay = min(delay * 1.6, 4.0)
        self.not_finished(f"task {task_id}")

    def poll_batch(self, batch_id: str) -> None:
        deadline = time.monotonic() + POLL_SECONDS
        delay = 0.5
        while time.monotonic() < deadline:
            gevent.sleep(delay)
            status, body, headers = self.call("GET", f"/v1/batch/{batch_id}", name="/v1/batch/{id}")
            if status == 200 and body.get("status") in TERMINAL_BATCH:
                return
            if status in (429, 503):
                self.back_off(headers)
            elif status >= 400:
                return
            delay = min(delay * 1.6, 4.0)
        self.not_finished(f"batch {batch_id}")

    def not_finished(self, what: str) -> None:
        LEDGER.unfinished.append(what)
        events.request.fire(
            request_type="POLL",
            name="task finished in time",
            response_time=POLL_SECONDS * 1000,
            response_length=0,
            exception=RuntimeError(f"{what} not finished after {POLL_SECONDS:.0f} s"),
            context={},
        )

    def cancel(self, task_id: str) -> None:
        """Cancel right after submitting: 200 when still pending, 409 once it runs or ran."""
        self.call("POST", f"/v1/task/{task_id}/cancel", name="/v1/task/{id}/cancel", ok=(409,))

    # --- the operations of the reference ------------------------------------------------------

    @task(3)
    def text_to_image(self) -> None:
        self.submit(
            "/v1/text-to-image",
            {
                "prompt": random.choice(["a red panda in bamboo", "一只小熊猫", "a lighthouse"]),
                "width": 64,
                "height": 64,
                "style": random.choice(["realistic", "anime", "artistic"]),
                "quality": "standard",
                "seed": random.randint(0, 2**32 - 1),
            },
        )

    @task(2)
    def image_edit(self) -> None:
        self.submit(
            "/v1/image-edit",
            {"prompt": "make it warmer", "image_url": CONTENT_IMAGE, "strength": 0.6},
        )

    @task(2)
    def remove_background(self) -> None:
        self.submit(
            "/v1/remove-background",
            {"image_url": CONTENT_IMAGE, "return_mask": random.random() < 0.5},
        )

    @task(1)
    def style_transfer(self) -> None:
        self.submit(
            "/v1/style-transfer",
            {"content_image_url": CONTENT_IMAGE, "style_image_url": STYLE_IMAGE, "strength": 0.7},
        )

    @task(3)
    def enhance(self) -> None:
        kind = random.choice(ENHANCEMENTS)
        body: dict[str, Any] = {"image_url": CONTENT_IMAGE, "enhancement_type": kind}
        if kind == "upscale":
            body["upscale_factor"] = 2
        self.submit("/v1/enhance", body)

    @task(1)
    def batch_edit(self) -> None:
        """Answers at once with a batch (no waiting form); polled through GET /v1/batch/{id}."""
        status, body, headers = self.call(
            "POST",
            "/v1/batch-edit",
            name="/v1/batch-edit",
            json={
                "prompt": "same character, new light",
                "image_urls": [CONTENT_IMAGE, THIRD_IMAGE],
            },
        )
        for item in body.get("tasks") or []:
            LEDGER.task_created(item.get("task_id"))
        if status == 200 and body.get("batch_id"):
            self.poll_batch(body["batch_id"])
        elif status in (429, 503):
            self.back_off(headers)

    @task(2)
    def account(self) -> None:
        self.call("GET", "/v1/account", name="/v1/account")


class WaitingUser(ApiUser):
    """Waits for the answer (the default sync form, up to API_SYNC_WAIT_SECONDS)."""

    weight = 1


class PollingUser(ApiUser):
    """Sends `Prefer: respond-async` and polls the Location with backoff; cancels now and then."""

    weight = 1
    prefer_async = True
