# ruff: noqa: RUF001 (the reference's Chinese prompts use full-width punctuation)
"""The Python SDK (`sdk/python`, package `nanobanana`) against the real stack: uvicorn and a Celery
worker. Every method, every error class from a real answer, retries through a fault-injecting
proxy, waiting and cancelling, uploads, paging, webhooks, the CLI and the reference's snippet."""

from __future__ import annotations

import asyncio
import base64
import importlib
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import nanobanana
import pytest
from nanobanana import AsyncNanoBananaClient, NanoBananaClient, webhooks
from nanobanana._exceptions import error_from_response
from nanobanana._flows import retry_delay
from PIL import Image

from tests.integration.conftest import ROOT, Stack
from tests.integration.stack import wait_until
from tests.sdk.conftest import api_key_issue

pytestmark = pytest.mark.integration

# The reference's Python snippet, copied verbatim into the SDK (the reference itself lives outside
# the repository; the copy is checked against it where it is present).
SNIPPET = ROOT / "sdk" / "python" / "examples" / "reference_snippet.py"
REFERENCE = ROOT.parent / "shared" / "reference" / "api-reference.md"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def stack(stack: Stack) -> Stack:
    """The shared stack, its web process restarted with SITE_URL naming its own port, so that the
    result links it signs can be fetched (`result.save`)."""
    stack.settings["SITE_URL"] = stack.base_url
    stack.web_restart()
    return stack


# --- Images and little servers -------------------------------------------------------------------


def png(color: tuple[int, int, int] = (200, 120, 40), size: tuple[int, int] = (64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def data_url(color: tuple[int, int, int] = (200, 120, 40), size: tuple[int, int] = (64, 64)) -> str:
    return "data:image/png;base64," + base64.b64encode(png(color, size)).decode()


SLOW = {"enhancement_type": "upscale", "upscale_factor": 2}  # seconds on this CPU at 640 px


def slow_image() -> str:
    return data_url((90, 140, 200), (640, 640))


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class LocalServer:
    """A threaded HTTP server on 127.0.0.1; `handle(recorded)` returns (status, headers, body)
    or None to drop the connection unanswered."""

    handle: Callable[[Recorded], tuple[int, dict[str, str], bytes] | None]
    requests: list[Recorded] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> LocalServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                recorded = Recorded(self.command, self.path, dict(self.headers.items()),
                                    self.rfile.read(length))  # fmt: skip
                outer.requests.append(recorded)
                answer = outer.handle(recorded)
                if answer is None:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                status, headers, body = answer
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = do_DELETE = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def image_server() -> LocalServer:
    """Serves a small PNG at every path (the server fetches image URLs from 127.0.0.1 in tests)."""
    body = png((30, 160, 90))
    return LocalServer(lambda r: (200, {"Content-Type": "image/png"}, body))


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
               "content-encoding"}  # fmt: skip


class FaultProxy(LocalServer):
    """Forwards to the stack, except that the first POST is answered 503 (`fault="503"`), is
    forwarded and its answer then lost by dropping the connection (`fault="drop"`), or is
    forwarded with `Prefer: respond-async` (`fault="async"`: a 202 as when the server's wait runs
    out). Records the Idempotency-Key of every POST attempt. `rewrite` replaces text in every
    request body on its way (the reference snippet's example.com images, which no host here
    reaches, become a local image server's)."""

    def __init__(
        self, upstream: str, fault: str | None, rewrite: dict[str, str] | None = None
    ) -> None:
        super().__init__(self._answer)
        self.upstream, self.fault, self.rewrite = upstream, fault, rewrite or {}
        self.keys: list[str | None] = []
        self._lock = threading.Lock()

    def _answer(self, recorded: Recorded) -> tuple[int, dict[str, str], bytes] | None:
        with self._lock:
            first_post = recorded.method == "POST" and not self.keys
            if recorded.method == "POST":
                self.keys.append(recorded.headers.get("Idempotency-Key"))
        if first_post and self.fault == "async":
            recorded.headers["Prefer"] = "respond-async"  # as if the server's wait ran out
        if first_post and self.fault == "503":
            envelope = {"success": False, "request_id": "req_proxy",
                        "error": {"code": "TEMPORARY_UNAVAILABLE",
                                  "message": "Service temporarily unavailable",
                                  "details": "injected by the test proxy"}}  # fmt: skip
            headers = {"Content-Type": "application/json", "Retry-After": "0"}
            return 503, headers, json.dumps(envelope).encode()
        body = recorded.body
        for old, new in self.rewrite.items():
            body = body.replace(old.encode(), new.encode())
        headers = {k: v for k, v in recorded.headers.items() if k.lower() not in _HOP_BY_HOP}
        response = httpx.request(recorded.method, self.upstream + recorded.path, headers=headers,
                                 content=body, timeout=120)  # fmt: skip
        if first_post and self.fault == "drop":
            return None  # the server did the work; the client never hears of it
        kept = {k: v for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP}
        return response.status_code, kept, response.content


def client_for(stack: Stack, key: str, **options: Any) -> NanoBananaClient:
    return NanoBananaClient(api_key=key, base_url=stack.base_url + "/v1", **options)


@pytest.fixture
def client(stack: Stack, api_key: str) -> Iterator[NanoBananaClient]:
    with client_for(stack, api_key) as sdk:
        yield sdk


@pytest.fixture
def max_client(stack: Stack) -> Iterator[NanoBananaClient]:
    """A Max-plan key: 10 billable requests a minute, for the tests that make many."""
    with client_for(stack, api_key_issue(stack, plan="max")) as sdk:
        yield sdk


@pytest.fixture(scope="module")
def free_key(stack: Stack) -> str:
    """One Free-plan key (5 MB files, 2 billable requests a minute) for the 413/415/429 tests."""
    return api_key_issue(stack, plan="free", credits=50)


def is_image(data: bytes) -> bool:
    return data.startswith((b"\x89PNG", b"\xff\xd8\xff", b"RIFF"))


# --- The reference's snippet ---------------------------------------------------------------------


def reference_python_snippet() -> str:
    return SNIPPET.read_text(encoding="utf-8")


def test_the_snippet_copy_is_the_references() -> None:
    if not REFERENCE.exists():
        pytest.skip(f"the API reference is not beside this checkout ({REFERENCE})")
    text = REFERENCE.read_text(encoding="utf-8")
    sdks = text[text.index("## SDKs") :]
    assert re.search(r"```python\n(.*?)```", sdks, re.S).group(1) == reference_python_snippet()


@pytest.fixture(scope="module")
def fresh_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment into which `pip install ./sdk/python` installed the SDK, as a
    user would (its dependency and build backend resolved by pip, nothing from this venv)."""
    venv = tmp_path_factory.mktemp("fresh-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(ROOT / "sdk" / "python")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    return python


def test_pip_install_of_the_sdk_works_in_a_fresh_environment(fresh_python: Path) -> None:
    code = "import nanobanana, httpx; print(nanobanana.__version__, nanobanana.__file__)"
    shown = subprocess.run([str(fresh_python), "-c", code], capture_output=True, text=True,
                           timeout=60)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    version, location = shown.stdout.split()
    assert version == nanobanana.__version__
    assert location.startswith(str(fresh_python.parent.parent))  # not this checkout's editable copy
    assert (fresh_python.parent / "nanobanana").exists()  # the CLI's entry point


def test_the_reference_python_snippet_prints_a_result_url(
    stack: Stack, api_key: str, fresh_python: Path
) -> None:
    snippet = reference_python_snippet()
    # Only the key and the base URL change; the base URL is a proxy that points the snippet's
    # https://example.com/ image at a local image server.
    reference_key, reference_base = "nk_live_xxxxxxxxxxxx", "https://api.nanobanana.ai/v1"
    assert reference_key in snippet and reference_base in snippet
    with (
        image_server() as images,
        FaultProxy(
            stack.base_url, fault=None, rewrite={"https://example.com/": images.url + "/"}
        ) as proxy,
    ):
        code = snippet.replace(reference_key, api_key).replace(reference_base, proxy.url + "/v1")
        env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
        run = subprocess.run([str(fresh_python), "-c", code], capture_output=True, text=True,
                             timeout=180, env=env)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert re.fullmatch(r"编辑结果: http://127\.0\.0\.1:\d+/files/\S+\n", run.stdout), run.stdout
    assert [r.path for r in images.requests] == ["/photo.jpg"]  # the snippet's own image URL


# --- Every operation -----------------------------------------------------------------------------


def test_every_image_operation_from_urls_paths_bytes_and_files(
    max_client: NanoBananaClient, tmp_path: Path
) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(png())
    with image_server() as images:
        edited = max_client.edit_image(prompt="将背景改为海滩", image_url=str(photo), strength=0.7)
        no_bg = max_client.remove_background(image_url=png((10, 200, 10)), return_mask=True)
        generated = max_client.text_to_image(prompt="A cute panda", width=64, height=64, seed=7)
        with photo.open("rb") as content:
            styled = max_client.style_transfer(
                content_image_url=content, style_image_url=data_url((0, 0, 255)), strength=0.5
            )
        enhanced = max_client.enhance(image_url=images.url + "/low_res.png",
                                      enhancement_type="color")  # fmt: skip
    for result, credits in ((edited, 5), (no_bg, 3), (generated, 8), (styled, 6), (enhanced, 4)):
        assert result["image_url"] == result.image_url
        assert result.image_url.startswith("http://127.0.0.1:")
        assert result.task_id.startswith("task_") and result.status == "completed"
        assert result["credits_used"] == result.credits_used == credits
        assert result.credits_remaining == "unlimited"  # the Max plan
        assert result.request_id.startswith("req_")
        assert isinstance(result, dict) and isinstance(result.processing_time, float)
    assert no_bg.mask_url and edited.mask_url is None  # a declared field the answer lacks
    assert is_image(edited.read())
    saved = no_bg.save(tmp_path / "no_bg.png")
    assert Image.open(saved).mode == "RGBA"
    assert is_image(no_bg.save(tmp_path / "mask.png", which="mask").read_bytes())


def test_batch_edit_waits_for_the_batch_and_get_batch_shows_it(
    max_client: NanoBananaClient,
) -> None:
    batch = max_client.batch_edit(
        prompt="保持人物面部特征，更换不同的服装背景",
        image_urls=[data_url((200, 0, 0)), data_url((0, 200, 0))],
        preserve_character=True,
    )
    assert batch.status == "completed" and batch.counts["completed"] == 2
    assert batch.total_credits == 10 and batch.credits_used == 10
    assert all(task.result.image_url for task in batch.tasks)
    again = max_client.get_batch(batch.batch_id)
    assert [t.task_id for t in again.tasks] == [t.task_id for t in batch.tasks]

    submitted = max_client.batch_edit(prompt="x", image_urls=[data_url()], wait=False)
    assert set(submitted) == {"success", "batch_id", "tasks", "total_credits"}
    assert submitted.tasks[0].status == "processing"


def test_get_account_and_task_status(client: NanoBananaClient) -> None:
    account = client.get_account()
    assert account.subscription.plan == "pro" and account["credits"]["balance"] == 1000
    assert account.usage_limits.max_file_size_mb == 10 and account.request_id
    result = client.enhance(image_url=data_url(), enhancement_type="color")
    task = client.get_task_status(result.task_id)
    assert task.status == "completed" and task.progress == 100
    assert task.result.image_url and task.error is None
    assert is_image(task.read())
    assert client.get_account().credits.balance == 996


def test_the_largest_plan_limit_is_the_sdk_constant() -> None:
    seed = importlib.import_module("billing.migrations.0002_seed_plans")
    assert max(plan[5] for plan in seed.PLANS) == nanobanana.MAX_FILE_SIZE_MB


# --- Waiting -------------------------------------------------------------------------------------


def test_wait_false_answers_at_once_and_wait_for_task_reports_progress(
    client: NanoBananaClient,
) -> None:
    accepted = client.enhance(image_url=slow_image(), wait=False, **SLOW)
    assert set(accepted) == {"success", "task_id", "status", "credits_used"}
    assert accepted.status in ("pending", "processing") and accepted.image_url is None
    seen: list[tuple[str, int]] = []
    task = client.wait_for_task(
        accepted.task_id, timeout=240, on_progress=lambda t: seen.append((t.status, t.progress))
    )
    assert task.status == "completed" and seen[-1] == ("completed", 100)
    progress = [p for _s, p in seen]
    assert progress == sorted(progress)
    assert any(s == "processing" and 0 < p < 100 for s, p in seen), seen


def test_an_expired_deadline_names_the_task_and_cancels_it(client: NanoBananaClient) -> None:
    # One worker process: the second task waits while the first runs, so it is still pending
    # (cancellable) when its deadline passes.
    running = client.enhance(image_url=slow_image(), wait=False, **SLOW)
    queued = client.enhance(image_url=slow_image(), wait=False, **SLOW)
    balance = client.get_account().credits.balance
    with pytest.raises(nanobanana.TaskTimeoutError) as caught:
        client.wait_for_task(queued.task_id, timeout=1, cancel_on_timeout=True)
    assert caught.value.task_id == queued.task_id and queued.task_id in str(caught.value)
    assert caught.value.cancelled
    assert client.get_task_status(queued.task_id).status == "cancelled"
    assert client.get_account().credits.balance == balance + 4  # refunded
    with pytest.raises(nanobanana.TaskCancelledError):
        client.wait_for_task(queued.task_id, timeout=10)
    # Without cancel_on_timeout the task carries on.
    with pytest.raises(nanobanana.TaskTimeoutError) as caught:
        client.wait_for_task(running.task_id, timeout=0.5)
    assert not caught.value.cancelled
    assert client.wait_for_task(running.task_id, timeout=240).status == "completed"


# --- Errors, each from a real answer -------------------------------------------------------------


def test_invalid_api_key(stack: Stack) -> None:
    with (
        client_for(stack, "nk_live_not-a-key") as sdk,
        pytest.raises(nanobanana.InvalidApiKeyError) as caught,
    ):
        sdk.get_account()
    error = caught.value
    assert (error.status_code, error.code) == (401, "INVALID_API_KEY")
    assert error.message and error.request_id.startswith("req_")
    assert isinstance(error, nanobanana.NanoBananaError)


def test_insufficient_credits(stack: Stack) -> None:
    sdk = client_for(stack, api_key_issue(stack, credits=0))
    with sdk, pytest.raises(nanobanana.InsufficientCreditsError) as caught:
        sdk.edit_image(prompt="将背景改为海滩", image_url=data_url())
    assert caught.value.status_code == 402 and caught.value.code == "INSUFFICIENT_CREDITS"


def test_invalid_request_names_the_field(client: NanoBananaClient) -> None:
    with pytest.raises(nanobanana.InvalidRequestError) as caught:
        client.edit_image(prompt="x", image_url=data_url(), strength=5)
    assert caught.value.status_code == 400 and "strength" in caught.value.details


def test_a_task_that_fails_on_the_worker_is_processing_error_and_refunded(
    stack: Stack, client: NanoBananaClient
) -> None:
    before = client.get_account().credits.balance
    with stack.results_unwritable(), pytest.raises(nanobanana.ProcessingError) as caught:
        client.remove_background(image_url=png())
    error = caught.value
    assert (error.status_code, error.code) == (500, "PROCESSING_ERROR")
    assert error.task_id.startswith("task_") and "refunded" in error.details
    assert client.get_task_status(error.task_id).status == "failed"
    assert client.get_account().credits.balance == before  # refunded


def test_not_found(client: NanoBananaClient) -> None:
    with pytest.raises(nanobanana.NotFoundError) as caught:
        client.get_task_status("task_doesnotexist")
    assert caught.value.status_code == 404 and caught.value.code == "NOT_FOUND"


def test_cancelling_a_finished_task_is_a_conflict(client: NanoBananaClient) -> None:
    done = client.enhance(image_url=data_url(), enhancement_type="color")
    with pytest.raises(nanobanana.ConflictError) as caught:
        client.cancel_task(done.task_id)
    assert caught.value.status_code == 409 and caught.value.code == "TASK_NOT_CANCELLABLE"


def test_an_idempotency_key_reused_with_other_parameters_is_a_conflict(
    client: NanoBananaClient,
) -> None:
    first = client.enhance(image_url=data_url(), enhancement_type="color", idempotency_key="k-1")
    replay = client.enhance(image_url=data_url(), enhancement_type="color", idempotency_key="k-1")
    assert replay.task_id == first.task_id
    assert replay.headers.get("Idempotent-Replayed") == "true"
    with pytest.raises(nanobanana.ConflictError) as caught:
        client.enhance(image_url=data_url((1, 2, 3)), idempotency_key="k-1")
    assert caught.value.code == "IDEMPOTENCY_CONFLICT"


def test_a_file_over_the_plans_limit_is_the_servers_413_naming_the_limit(
    stack: Stack, free_key: str, tmp_path: Path
) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(6 * 1024 * 1024))  # over Free's 5 MB
    with client_for(stack, free_key) as sdk, pytest.raises(nanobanana.FileTooLargeError) as caught:
        sdk.edit_image(prompt="x", image_url=big)
    error = caught.value
    assert error.status_code == 413 and error.code == "FILE_TOO_LARGE"
    assert error.limit_bytes == 5 * 1024 * 1024 and "5 MB" in str(error)


def test_a_file_larger_than_any_plan_is_refused_before_upload(tmp_path: Path) -> None:
    huge = tmp_path / "huge.png"
    huge.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(21 * 1024 * 1024))
    # Nothing listens there: reaching the network would be an APIConnectionError instead.
    with NanoBananaClient(api_key="nk_live_x", base_url="http://127.0.0.1:9") as sdk:
        for source in (huge, huge.read_bytes()):
            with pytest.raises(nanobanana.FileTooLargeError) as caught:
                sdk.enhance(image_url=source)
            assert caught.value.status_code == 413 and "20 MB" in str(caught.value)


def test_an_unsupported_format_is_415(stack: Stack, free_key: str) -> None:
    gif = io.BytesIO()
    Image.new("RGB", (16, 16)).save(gif, "GIF")
    sdk = client_for(stack, free_key)
    with sdk, pytest.raises(nanobanana.UnsupportedFormatError) as caught:
        sdk.enhance(image_url=gif.getvalue())
    assert caught.value.status_code == 415 and caught.value.code == "UNSUPPORTED_FORMAT"


def test_a_429_is_retried_after_retry_after_and_then_succeeds(stack: Stack, free_key: str) -> None:
    """Free allows 2 billable requests a minute (the 413 and 415 tests above may have used them).
    Refused requests count too, so invalid ones fill the window without running anything."""
    with client_for(stack, free_key, max_retries=0) as no_retries:
        for _ in range(3):
            try:
                no_retries.edit_image(prompt="", image_url=data_url())
            except nanobanana.RateLimitError as error:
                assert error.status_code == 429 and 0 < error.retry_after <= 60
                retry_after = error.retry_after
                break
            except nanobanana.InvalidRequestError:
                continue
        else:
            pytest.fail("no 429 after 3 requests on the Free plan")
    started = time.monotonic()
    with client_for(stack, free_key) as sdk:  # max_retries=2, honouring Retry-After
        result = sdk.enhance(image_url=data_url(), enhancement_type="color")
    assert result.status == "completed"
    assert time.monotonic() - started >= retry_after - 2


def test_connection_errors_and_timeouts_have_their_own_classes() -> None:
    sdk = NanoBananaClient(api_key="nk_live_x", base_url="http://127.0.0.1:9", max_retries=1)
    with sdk, pytest.raises(nanobanana.APIConnectionError) as caught:
        sdk.get_account()
    assert not isinstance(caught.value, nanobanana.APITimeoutError)
    hang = threading.Event()
    with LocalServer(lambda r: hang.wait(5) and None) as silent:  # accepts, never answers
        sdk = NanoBananaClient(api_key="nk_live_x", base_url=silent.url, timeout=0.5,
                               max_retries=0)  # fmt: skip
        with sdk, pytest.raises(nanobanana.APITimeoutError):
            sdk.get_account()
        hang.set()


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (401, "INVALID_API_KEY", nanobanana.InvalidApiKeyError),
        (402, "INSUFFICIENT_CREDITS", nanobanana.InsufficientCreditsError),
        (400, "INVALID_REQUEST", nanobanana.InvalidRequestError),
        (413, "FILE_TOO_LARGE", nanobanana.FileTooLargeError),
        (415, "UNSUPPORTED_FORMAT", nanobanana.UnsupportedFormatError),
        (429, "RATE_LIMIT_EXCEEDED", nanobanana.RateLimitError),
        (500, "PROCESSING_ERROR", nanobanana.ProcessingError),
        (503, "TEMPORARY_UNAVAILABLE", nanobanana.TemporaryUnavailableError),
        (404, "NOT_FOUND", nanobanana.NotFoundError),
        (409, "IDEMPOTENCY_CONFLICT", nanobanana.ConflictError),
        (409, "TASK_NOT_CANCELLABLE", nanobanana.ConflictError),
    ],
)
def test_every_error_code_has_its_class(status: int, code: str, cls: type) -> None:
    body = {"success": False, "request_id": "req_1",
            "error": {"code": code, "message": "m", "details": "d"}}  # fmt: skip
    response = httpx.Response(status, json=body, headers={"Retry-After": "3"})
    error = error_from_response(response)
    assert type(error) is cls and isinstance(error, nanobanana.NanoBananaError)
    assert (error.code, error.status_code, error.message, error.details, error.request_id) == (
        code, status, "m", "d", "req_1"
    )  # fmt: skip
    if cls is nanobanana.RateLimitError:
        assert error.retry_after == 3


# --- Retries and idempotency ---------------------------------------------------------------------


def test_a_503_is_retried_with_the_same_idempotency_key_and_charged_once(
    stack: Stack, api_key: str
) -> None:
    with FaultProxy(stack.base_url, fault="503") as proxy, client_for(stack, api_key) as direct:
        with NanoBananaClient(api_key=api_key, base_url=proxy.url) as sdk:
            result = sdk.edit_image(prompt="将天空改成晚霞效果", image_url=data_url())
        assert result.status == "completed"
        assert len(proxy.keys) == 2 and proxy.keys[0] == proxy.keys[1]
        assert re.fullmatch(r"[0-9a-f-]{36}", proxy.keys[0])  # a uuid4 of the SDK's
        assert direct.get_account().credits.balance == 1000 - 5
        assert [t.task_id for t in direct.list_tasks()] == [result.task_id]


def test_a_lost_answer_is_retried_and_replayed_not_run_again(stack: Stack, api_key: str) -> None:
    with FaultProxy(stack.base_url, fault="drop") as proxy, client_for(stack, api_key) as direct:
        with NanoBananaClient(api_key=api_key, base_url=proxy.url) as sdk:
            result = sdk.enhance(image_url=data_url(), enhancement_type="color",
                                 idempotency_key="my-key-1")  # fmt: skip
        assert proxy.keys == ["my-key-1", "my-key-1"]
        assert result.headers.get("Idempotent-Replayed") == "true"
        assert direct.get_account().credits.balance == 1000 - 4
        assert len(list(direct.list_tasks())) == 1


def test_without_retries_a_503_is_raised(stack: Stack, api_key: str) -> None:
    with FaultProxy(stack.base_url, fault="503") as proxy:
        sdk = NanoBananaClient(api_key=api_key, base_url=proxy.url, max_retries=0)
        with sdk, pytest.raises(nanobanana.TemporaryUnavailableError) as caught:
            sdk.text_to_image(prompt="x")
    assert caught.value.status_code == 503 and caught.value.retry_after == 0
    assert len(proxy.keys) == 1


def test_a_202_while_waiting_is_polled_to_the_finished_result(stack: Stack, api_key: str) -> None:
    proxy = FaultProxy(stack.base_url, fault="async")
    with proxy, NanoBananaClient(api_key=api_key, base_url=proxy.url) as sdk:
        result = sdk.remove_background(image_url=data_url(), return_mask=True)
    assert [r.method for r in proxy.requests][:1] == ["POST"]
    assert any(r.path.startswith("/v1/task/") for r in proxy.requests)  # it polled
    assert result.status == "completed" and result.image_url and result.mask_url
    assert result.credits_used == 3 and result.credits_remaining == 997
    assert set(result) >= {"success", "task_id", "image_url", "description", "credits_used"}


def test_backoff_doubles_from_half_a_second_to_eight_with_jitter_and_honours_retry_after() -> None:
    for attempt, full in enumerate([0.5, 1, 2, 4, 8, 8]):
        delay = retry_delay(attempt, None)
        assert 0.75 * full <= delay <= full
    assert retry_delay(0, httpx.Response(429, headers={"Retry-After": "7"})) == 7
    assert retry_delay(0, httpx.Response(503, headers={"Retry-After": "0"})) == 0
    assert retry_delay(0, httpx.Response(429, headers={"Retry-After": "61"})) is None  # give up


# --- Paging --------------------------------------------------------------------------------------


def test_list_tasks_pages_through_every_task_newest_first(max_client: NanoBananaClient) -> None:
    ids = [
        max_client.enhance(image_url=data_url((i, i, i)), enhancement_type="color").task_id
        for i in range(3)
    ]
    page = max_client.list_tasks(limit=2)
    assert len(page.data) == 2 and page.has_more
    assert [t.task_id for t in page] == ids[::-1]
    assert [len(p.data) for p in page.iter_pages()] == [2, 1]
    assert all(t.status == "completed" for t in max_client.list_tasks(status="completed"))
    assert list(max_client.list_tasks(created_after="2999-01-01T00:00:00Z")) == []


# --- Async ---------------------------------------------------------------------------------------


def test_the_async_client_has_the_same_methods(stack: Stack, api_key: str) -> None:
    sync_methods = {n for n in dir(NanoBananaClient) if not n.startswith("_")}
    assert sync_methods <= set(dir(AsyncNanoBananaClient))

    async def scenario() -> None:
        async with AsyncNanoBananaClient(api_key=api_key, base_url=stack.base_url) as sdk:
            result = await sdk.remove_background(image_url=png())
            assert result["image_url"] == result.image_url and result.credits_used == 3
            assert is_image(await result.aread())
            accepted = await sdk.enhance(image_url=data_url(), enhancement_type="color",
                                         wait=False)  # fmt: skip
            seen = []

            async def progress(task: nanobanana.Task) -> None:
                seen.append(task.status)

            task = await sdk.wait_for_task(accepted.task_id, timeout=120, on_progress=progress)
            assert task.status == "completed" and seen[-1] == "completed"
            first = await sdk.list_tasks(limit=1)
            assert len(first.data) == 1 and first.has_more
            assert [t.task_id async for t in sdk.list_tasks(limit=1)] == [
                accepted.task_id, result.task_id
            ]  # fmt: skip
            with pytest.raises(nanobanana.NotFoundError):
                await sdk.get_batch("batch_nope")

    asyncio.run(scenario())


# --- Webhooks ------------------------------------------------------------------------------------


def test_webhooks_are_managed_and_what_arrives_verifies(
    max_client: NanoBananaClient,
) -> None:
    with LocalServer(lambda r: (200, {}, b"ok")) as receiver:
        endpoint = max_client.create_webhook(url=receiver.url + "/hooks", description="sdk")
        assert endpoint.secret.startswith("whsec_") and endpoint.is_active
        assert [w.id for w in max_client.list_webhooks()] == [endpoint.id]
        assert max_client.get_webhook(endpoint.id).secret == endpoint.secret
        assert max_client.update_webhook(endpoint.id, description="renamed").description == (
            "renamed"
        )
        result = max_client.enhance(image_url=data_url(), enhancement_type="color")
        wait_until(lambda: receiver.requests, 60, "the webhook")
        message = receiver.requests[0]
        event = webhooks.verify(message.body, message.headers, endpoint.secret)
        assert event.type == "task.completed" and event.data.task_id == result.task_id
        assert event["data"]["result"]["image_url"]
        for forged in (
            lambda: webhooks.verify(message.body + b" ", message.headers, endpoint.secret),
            lambda: webhooks.verify(message.body, message.headers, "whsec_" + "A" * 44),
            lambda: webhooks.verify(message.body, message.headers, endpoint.secret,
                                    now=time.time() + 3600),
        ):  # fmt: skip
            with pytest.raises(nanobanana.WebhookVerificationError):
                forged()

        # After a rotation each message is signed with both secrets.
        rotated = max_client.rotate_webhook_secret(endpoint.id)
        assert rotated.secret != endpoint.secret
        (delivery,) = max_client.list_webhook_deliveries(endpoint.id)
        assert delivery.id == message.headers["webhook-id"] and delivery.status == "succeeded"
        again = max_client.redeliver_webhook(delivery.id)
        assert again.id == delivery.id
        wait_until(lambda: len(receiver.requests) > 1, 60, "the redelivery")
        second = receiver.requests[1]
        assert second.headers["webhook-id"] == delivery.id
        assert len(second.headers["webhook-signature"].split()) == 2
        for secret in (endpoint.secret, rotated.secret):
            assert webhooks.verify(second.body, second.headers, secret).data.task_id == (
                result.task_id
            )
        max_client.delete_webhook(endpoint.id)
        with pytest.raises(nanobanana.NotFoundError):
            max_client.get_webhook(endpoint.id)


# --- Configuration -------------------------------------------------------------------------------


def test_the_key_and_base_url_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NANOBANANA_API_KEY", raising=False)
    monkeypatch.delenv("NANOBANANA_BASE_URL", raising=False)
    with pytest.raises(nanobanana.NanoBananaError, match="NANOBANANA_API_KEY"):
        NanoBananaClient()
    monkeypatch.setenv("NANOBANANA_API_KEY", "nk_live_env")
    assert NanoBananaClient().base_url == "https://api.nanobanana.ai/v1"
    assert NanoBananaClient().api_key == "nk_live_env" and NanoBananaClient().max_retries == 2
    monkeypatch.setenv("NANOBANANA_BASE_URL", "http://127.0.0.1:8000")
    assert NanoBananaClient().base_url == "http://127.0.0.1:8000/v1"
    assert NanoBananaClient(base_url="https://x.test/v1/").base_url == "https://x.test/v1"


# --- The CLI -------------------------------------------------------------------------------------


def run_cli(stack: Stack, key: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NANOBANANA_API_KEY": key, "NANOBANANA_BASE_URL": stack.base_url,
           "PYTHONIOENCODING": "utf-8"}  # fmt: skip
    return subprocess.run([str(BIN / "nanobanana"), *args], capture_output=True, text=True,
                          env=env, timeout=240)  # fmt: skip


def test_the_cli_edits_shows_progress_and_exits_per_error(
    stack: Stack, api_key: str, tmp_path: Path
) -> None:
    photo, out = tmp_path / "photo.png", tmp_path / "out.jpg"
    photo.write_bytes(png())
    run = run_cli(stack, api_key, "edit", str(photo), "将背景改为海滩", "-o", str(out))
    assert run.returncode == 0, run.stderr
    assert is_image(out.read_bytes()) and "100%" in run.stderr and "completed" in run.stdout
    task_id = run.stdout.split()[0]

    shown = run_cli(stack, api_key, "--json", "task", task_id)
    assert shown.returncode == 0 and json.loads(shown.stdout)["status"] == "completed"
    account = run_cli(stack, api_key, "--json", "account")
    assert json.loads(account.stdout)["credits"]["balance"] == 995

    assert run_cli(stack, api_key, "task", "task_nope").returncode == 11
    assert run_cli(stack, "nk_live_wrong", "account").returncode == 3
    conflict = run_cli(stack, api_key, "--json", "task", task_id, "--cancel")
    assert conflict.returncode == 12
    assert json.loads(conflict.stdout)["error"]["code"] == "TASK_NOT_CANCELLABLE"


def test_the_cli_runs_every_operation_and_saves_what_it_made(stack: Stack, tmp_path: Path) -> None:
    key = api_key_issue(stack, plan="max")
    photo = tmp_path / "photo.png"
    photo.write_bytes(png())
    out = {name: tmp_path / f"{name}.png" for name in ("cut", "mask", "gen", "style", "big")}
    with image_server() as images:
        runs = {
            "remove-bg": run_cli(stack, key, "remove-bg", str(photo), "-o", str(out["cut"]),
                                 "--mask", str(out["mask"])),
            "generate": run_cli(stack, key, "generate", "一只可爱的熊猫", "--width", "64",
                                "--height", "64", "--format", "png", "-o", str(out["gen"])),
            "style": run_cli(stack, key, "style", str(photo), images.url + "/starry.png",
                             "--strength", "0.5", "-o", str(out["style"])),
            "enhance": run_cli(stack, key, "enhance", str(photo), "--type", "upscale",
                               "--factor", "2", "-o", str(out["big"])),
            "batch": run_cli(stack, key, "--json", "batch", "换成海边的背景",
                             images.url + "/a.png", images.url + "/b.png"),
        }  # fmt: skip
    for name, run in runs.items():
        assert run.returncode == 0, (name, run.stderr)
    for name in ("remove-bg", "generate", "style", "enhance"):
        assert " completed  100% " in runs[name].stdout and "100%" in runs[name].stderr, name
    assert all(is_image(path.read_bytes()) for path in out.values())
    assert Image.open(out["big"]).size == (128, 128)  # twice the 64² photo
    assert Image.open(out["cut"]).mode == "RGBA"
    batch = json.loads(runs["batch"].stdout)
    assert batch["status"] == "completed" and len(batch["tasks"]) == 2
    assert all(t["result"]["image_url"].startswith("http://127.0.0.1:") for t in batch["tasks"])
