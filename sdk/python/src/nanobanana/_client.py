"""NanoBananaClient and AsyncNanoBananaClient: configuration, the HTTP transport, and one method
per endpoint. What each method does is in `_flows` (shared); the clients only perform its I/O."""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping
from datetime import datetime
from typing import Any, TypeVar

import httpx

from . import _flows as flows
from ._constants import API_KEY_ENV, BASE_URL_ENV, DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES
from ._constants import DEFAULT_TIMEOUT as _DEFAULT_TIMEOUT
from ._exceptions import NanoBananaError, error_from_response
from ._files import ImageInput
from ._flows import RequestOptions, Timeout
from ._models import (
    Account,
    Batch,
    BatchSubmitted,
    ImageResult,
    Task,
    WebhookDelivery,
    WebhookEndpoint,
)
from ._version import __version__

__all__ = ["AsyncNanoBananaClient", "AsyncTaskPage", "NanoBananaClient", "TaskPage"]

T = TypeVar("T")
ProgressCallback = Callable[[Task], Any]


class BaseClient:
    """Settings and request building shared by both clients."""

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
        default_headers: Mapping[str, str] | None,
        language: str | None,
    ) -> None:
        api_key = api_key or os.environ.get(API_KEY_ENV)
        if not api_key:
            raise NanoBananaError(
                f"No API key: pass api_key=... or set the {API_KEY_ENV} environment variable"
            )
        self.api_key = api_key
        self.base_url = _api_root(base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL)
        self.timeout = _DEFAULT_TIMEOUT if timeout is None else timeout
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.max_retries = max_retries
        self._default_headers = {
            "User-Agent": f"nanobanana-python/{__version__}",
            "Accept": "application/json",
            **({"Accept-Language": language} if language else {}),
            **dict(default_headers or {}),
        }

    def _build_request(
        self, http: httpx.Client | httpx.AsyncClient, options: RequestOptions
    ) -> httpx.Request:
        headers = {
            **self._default_headers,
            "Authorization": f"Bearer {self.api_key}",
            **options.headers,
        }
        if options.idempotency_key is not None:
            headers["Idempotency-Key"] = options.idempotency_key
        return http.build_request(
            options.method,
            self.base_url + options.path,
            params=options.params,
            json=options.json,
            data=options.data,
            files=options.files,
            headers=headers,
            timeout=self.timeout if options.timeout is None else options.timeout,
        )

    # How results fetch their links (`result.save`), without the API key: links are signed.
    def _download(self, url: str) -> bytes:
        raise NotImplementedError

    async def _adownload(self, url: str) -> bytes:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"


def _api_root(url: str) -> str:
    """The API root without a trailing slash; `/v1` is added when the URL names only the host
    (`http://127.0.0.1:8000` means `http://127.0.0.1:8000/v1`)."""
    url = url.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def _params(**params: Any) -> dict[str, Any]:
    return {key: value for key, value in params.items() if value is not None}


# --- Pagination ---------------------------------------------------------------------------------


class TaskPage:
    """One page of `list_tasks`: `data` and `has_more`. Iterating goes through every task of
    every following page, fetching them as needed (newest first)."""

    def __init__(
        self, client: NanoBananaClient, params: dict[str, Any], data: list[Task], has_more: bool
    ) -> None:
        self._client, self._params = client, params
        self.data, self.has_more = data, has_more

    def has_next_page(self) -> bool:
        return self.has_more and bool(self.data)

    def next_page(self) -> TaskPage:
        params = {**self._params, "starting_after": self.data[-1]["task_id"]}
        data, has_more = self._client._run(flows.list_tasks_page(self._client, params))
        return TaskPage(self._client, params, data, has_more)

    def iter_pages(self) -> Iterator[TaskPage]:
        page = self
        yield page
        while page.has_next_page():
            page = page.next_page()
            yield page

    def __iter__(self) -> Iterator[Task]:
        for page in self.iter_pages():
            yield from page.data


class AsyncTaskPage:
    """The async `TaskPage`: `async for task in page` goes through every following page."""

    def __init__(
        self,
        client: AsyncNanoBananaClient,
        params: dict[str, Any],
        data: list[Task],
        has_more: bool,
    ) -> None:
        self._client, self._params = client, params
        self.data, self.has_more = data, has_more

    def has_next_page(self) -> bool:
        return self.has_more and bool(self.data)

    async def next_page(self) -> AsyncTaskPage:
        params = {**self._params, "starting_after": self.data[-1]["task_id"]}
        data, has_more = await self._client._run(flows.list_tasks_page(self._client, params))
        return AsyncTaskPage(self._client, params, data, has_more)

    async def iter_pages(self) -> AsyncIterator[AsyncTaskPage]:
        page = self
        yield page
        while page.has_next_page():
            page = await page.next_page()
            yield page

    async def __aiter__(self) -> AsyncIterator[Task]:
        async for page in self.iter_pages():
            for task in page.data:
                yield task


class AsyncTaskPaginator:
    """What `AsyncNanoBananaClient.list_tasks` returns: `await` it for the first page, or
    `async for task in client.list_tasks(...)` for every task."""

    def __init__(self, client: AsyncNanoBananaClient, params: dict[str, Any]) -> None:
        self._client, self._params = client, params

    async def _first(self) -> AsyncTaskPage:
        data, has_more = await self._client._run(flows.list_tasks_page(self._client, self._params))
        return AsyncTaskPage(self._client, self._params, data, has_more)

    def __await__(self) -> Generator[Any, None, AsyncTaskPage]:
        return self._first().__await__()

    async def __aiter__(self) -> AsyncIterator[Task]:
        page = await self._first()
        async for task in page:
            yield task


# --- The sync client ----------------------------------------------------------------------------


class NanoBananaClient(BaseClient):
    """The Nano Banana API.

    >>> client = NanoBananaClient(api_key="nk_live_...")   # or NANOBANANA_API_KEY
    >>> result = client.edit_image(prompt="将背景改为海滩", image_url="photo.jpg")
    >>> result.save("out.jpg")
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        *,
        default_headers: Mapping[str, str] | None = None,
        language: str | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            language=language,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=self.timeout, follow_redirects=False)

    # The driver: performs a flow's steps.
    def _run(self, flow: flows.Flow[T]) -> T:
        value: Any = None
        try:
            while True:
                try:
                    step = flow.send(value)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]
                value = None
                if isinstance(step, flows.Send):
                    value = self._send(step.options)
                elif isinstance(step, flows.Sleep):
                    time.sleep(step.seconds)
                else:
                    step.function(step.argument)
        finally:
            flow.close()

    def _send(self, options: RequestOptions) -> httpx.Response | httpx.TransportError:
        try:
            return self._http.send(self._build_request(self._http, options))
        except httpx.TransportError as error:
            return error

    def _download(self, url: str) -> bytes:
        # No API key: result links are signed on their own and may live on another host (S3).
        response = self._http.get(url, timeout=self.timeout, follow_redirects=True)
        if response.status_code >= 400:
            raise error_from_response(response)
        return response.content

    async def _adownload(self, url: str) -> bytes:
        return await asyncio.to_thread(self._download, url)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> NanoBananaClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Image operations.
    def edit_image(
        self,
        *,
        prompt: str,
        image_url: ImageInput,
        strength: float | None = None,
        preserve_scene: bool | None = None,
        output_format: str | None = None,
        seed: int | None = None,
        wait: bool = True,
        wait_timeout: float | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
    ) -> ImageResult:
        """POST /v1/image-edit: edit `image_url` (a URL, path, bytes or binary file) as
        `prompt` says. Waits for the result unless `wait=False`."""
        params = _params(
            prompt=prompt,
            image_url=image_url,
            strength=strength,
            preserve_scene=preserve_scene,
            output_format=output_format,
            seed=seed,
        )
        return self._run(
            flows.image_operation(
                self,
                flows.IMAGE_EDIT,
                params,
                wait=wait,
                wait_timeout=wait_timeout,
                idempotency_key=idempotency_key,
                timeout=timeout,
            )
        )

    def remove_background(
        self,
        *,
        image_url: ImageInput,
        return_mask: bool | None = None,
        edge_smooth: bool | None = None,
        wait: bool = True,
        wait_timeout: float | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
    ) -> ImageResult:
        """POST /v1/remove-background: a PNG with a transparent background (and `mask_url`)."""
        params = _params(image_url=image_url, return_mask=return_mask, edge_smooth=edge_smooth)
        return self._run(
            flows.image_operation(
                self,
                flows.REMOVE_BACKGROUND,
                params,
                wait=wait,
                wait_timeout=wait_timeout,
                idempotency_key=idempotency_key,
                timeout=timeout,
            )
        )

    def text_to_image(
        self,
        *,
        prompt: str,
        width: int | None = None,
        height: int | None = None,
        style: str | None = None,
        quality: str | None = None,
        output_format: str | None = None,
        seed: int | None = None,
        wait: bool = True,
        wait_timeout: float | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
    ) -> ImageResult:
        """POST /v1/text-to-image (`style`: realistic, anime, artistic; `quality`: standard,
        high; sides multiples of 8)."""
        params = _params(
            prompt=prompt,
            width=width,
            height=height,
            style=style,
            quality=quality,
            output_format=output_format,
            seed=seed,
        )
        return self._run(
            flows.image_operation(
                self,
                flows.TEXT_TO_IMAGE,
                params,
                wait=wait,
                wait_timeout=wait_timeout,
                idempotency_key=idempotency_key,
                timeout=timeout,
            )
        )

    def style_transfer(
        self,
        *,
        content_image_url: ImageInput,
        style_image_url: ImageInput,
        strength: float | None = None,
        output_format: str | None = None,
        seed: int | None = None,
        wait: bool = True,
        wait_timeout: float | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
    ) -> ImageResult:
        """POST /v1/style-transfer: the style of `style_image_url` applied to the content."""
        params = _params(
            content_image_url=content_image_url,
            style_image_url=style_image_url,
            strength=strength,
            output_format=output_format,
            seed=seed,
        )
        return self._run(
            flows.image_operation(
                self,
                flows.STYLE_TRANSFER,
                params,
                wait=wait,
                wait_timeout=wait_timeout,
                idempotency_key=idempotency_key,
                timeout=timeout,
            )
        )

    def enhance(
        self,
        *,
        image_url: ImageInput,
        enhancement_type: str | None = None,
        upscale_factor: int | None = None,
        output_format: str | None = None,
        wait: bool = True,
        wait_timeout: float | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
    ) -> ImageResult:
        """POST /v1/enhance (`enhancement_type`: upscale, denoise, color; `upscale_factor` 2/4)."""
        params = _params(
            image_url=image_url,
            enhancement_type=enhancement_type,
            upscale_factor=upscale_factor,
            output_format=output_format,
        )
        return self._run(
            flows.image_operation(
                self,
                flows.ENHANCE,
                params,
                wait=wait,
                wait_timeout=wait_timeout,
                idempotency_key=idempotency_key,
                timeout=timeout,
            )
        )

    def batch_edit(
        self,
        *,
        prompt: str,
        image_urls: list[str],
        preserve_character: bool | None = None,
        style_consistency: bool | None = None,
        output_format: str | None = None,
        seed: int | None = None,
        wait: bool = True,
        wait_timeout: float | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
    ) -> Batch | BatchSubmitted:
        """POST /v1/batch-edit (JSON: `image_urls` are http(s) or data: URLs). With `wait=True`
        the finished Batch (GET /v1/batch/{id}); with `wait=False` the submit's answer."""
        params = _params(
            prompt=prompt,
            image_urls=list(image_urls),
            preserve_character=preserve_character,
            style_consistency=style_consistency,
            output_format=output_format,
            seed=seed,
        )
        return self._run(
            flows.batch_edit(
                self,
                params,
                wait=wait,
                wait_timeout=wait_timeout,
                idempotency_key=idempotency_key,
                timeout=timeout,
            )
        )

    # Tasks and batches.
    def get_task_status(self, task_id: str) -> Task:
        """GET /v1/task/{task_id}: status, progress, result (fresh signed links) or error."""
        return self._run(flows.call(self, RequestOptions("GET", f"/task/{task_id}"), Task))

    def cancel_task(self, task_id: str, *, idempotency_key: str | None = None) -> Task:
        """POST /v1/task/{task_id}/cancel: cancels and refunds a pending task; ConflictError
        (TASK_NOT_CANCELLABLE) once a worker runs it or it finished."""
        options = RequestOptions("POST", f"/task/{task_id}/cancel", idempotency_key=idempotency_key)
        return self._run(flows.call(self, options, Task))

    def get_batch(self, batch_id: str) -> Batch:
        """GET /v1/batch/{batch_id}: the batch's status, counts and every task."""
        return self._run(flows.call(self, RequestOptions("GET", f"/batch/{batch_id}"), Batch))

    def wait_for_task(
        self,
        task_id: str,
        *,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        cancel_on_timeout: bool = False,
        poll_interval: float | None = None,
        raise_on_failure: bool = True,
    ) -> Task:
        """Polls the task until it finishes, within `timeout` seconds overall (default 600).
        `on_progress(task)` is called whenever its status or progress changes. Raises
        TaskTimeoutError naming the task when the deadline passes (cancelling it first when
        `cancel_on_timeout`), ProcessingError when it failed, TaskCancelledError when it was
        cancelled (unless `raise_on_failure=False`)."""
        return self._run(
            flows.wait_for_task(
                self,
                task_id,
                timeout=timeout,
                on_progress=on_progress,
                cancel_on_timeout=cancel_on_timeout,
                poll_interval=poll_interval,
                raise_on_failure=raise_on_failure,
            )
        )

    def list_tasks(
        self,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        status: str | None = None,
        operation: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
    ) -> TaskPage:
        """GET /v1/tasks, newest first: the first page; iterate it for every task across pages
        (`limit` is the page size, 1-100)."""
        params = flows.list_tasks_params(
            limit=limit,
            starting_after=starting_after,
            status=status,
            operation=operation,
            created_after=created_after,
            created_before=created_before,
        )
        data, has_more = self._run(flows.list_tasks_page(self, params))
        return TaskPage(self, params, data, has_more)

    # Account.
    def get_account(self) -> Account:
        """GET /v1/account: plan, credits and usage limits."""
        return self._run(flows.call(self, RequestOptions("GET", "/account"), Account))

    # Webhooks.
    def list_webhooks(self) -> list[WebhookEndpoint]:
        """GET /v1/webhooks: the account's endpoints (without secrets)."""
        options = RequestOptions("GET", "/webhooks")
        return self._run(flows.call_list(self, options, "webhooks", WebhookEndpoint))

    def create_webhook(
        self, *, url: str, description: str | None = None, idempotency_key: str | None = None
    ) -> WebhookEndpoint:
        """POST /v1/webhooks: registers `url`; the answer carries its signing `secret`."""
        options = RequestOptions(
            "POST",
            "/webhooks",
            json=_params(url=url, description=description),
            idempotency_key=idempotency_key,
        )
        return self._run(flows.call(self, options, WebhookEndpoint))

    def get_webhook(self, webhook_id: str) -> WebhookEndpoint:
        """GET /v1/webhooks/{id}: the endpoint with its signing `secret`."""
        options = RequestOptions("GET", f"/webhooks/{webhook_id}")
        return self._run(flows.call(self, options, WebhookEndpoint))

    def update_webhook(
        self, webhook_id: str, *, is_active: bool | None = None, description: str | None = None
    ) -> WebhookEndpoint:
        """PATCH /v1/webhooks/{id}: switch it on or off, or change its description."""
        body = _params(is_active=is_active, description=description)
        options = RequestOptions("PATCH", f"/webhooks/{webhook_id}", json=body)
        return self._run(flows.call(self, options, WebhookEndpoint))

    def delete_webhook(self, webhook_id: str) -> None:
        """DELETE /v1/webhooks/{id}: the endpoint and its delivery log."""
        self._run(flows.call_no_content(self, RequestOptions("DELETE", f"/webhooks/{webhook_id}")))

    def rotate_webhook_secret(
        self, webhook_id: str, *, idempotency_key: str | None = None
    ) -> WebhookEndpoint:
        """POST /v1/webhooks/{id}/rotate-secret: a new `secret`; for 24 h messages carry a
        signature for the old one too."""
        options = RequestOptions(
            "POST", f"/webhooks/{webhook_id}/rotate-secret", idempotency_key=idempotency_key
        )
        return self._run(flows.call(self, options, WebhookEndpoint))

    def list_webhook_deliveries(self, webhook_id: str) -> list[WebhookDelivery]:
        """GET /v1/webhooks/{id}/deliveries: the 50 most recent deliveries, newest first."""
        options = RequestOptions("GET", f"/webhooks/{webhook_id}/deliveries")
        return self._run(flows.call_list(self, options, "deliveries", WebhookDelivery))

    def redeliver_webhook(
        self, delivery_id: str, *, idempotency_key: str | None = None
    ) -> WebhookDelivery:
        """POST /v1/webhooks/deliveries/{msg_id}/redeliver: sends the message again (same id)."""
        options = RequestOptions(
            "POST", f"/webhooks/deliveries/{delivery_id}/redeliver", idempotency_key=idempotency_key
        )
        return self._run(flows.call(self, options, WebhookDelivery))


# --- The async client ---------------------------------------------------------------------------


class AsyncNanoBananaClient(BaseClient):
    """The Nano Banana API with `async`/`await`; the same methods as NanoBananaClient."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        *,
        default_headers: Mapping[str, str] | None = None,
        language: str | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            language=language,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=self.timeout)

    async def _run(self, flow: flows.Flow[T]) -> T:
        value: Any = None
        try:
            while True:
                try:
                    step = flow.send(value)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]
                value = None
                if isinstance(step, flows.Send):
                    value = await self._send(step.options)
                elif isinstance(step, flows.Sleep):
                    await asyncio.sleep(step.seconds)
                else:
                    outcome = step.function(step.argument)
                    if inspect.isawaitable(outcome):
                        await outcome
        finally:
            flow.close()

    async def _send(self, options: RequestOptions) -> httpx.Response | httpx.TransportError:
        try:
            return await self._http.send(self._build_request(self._http, options))
        except httpx.TransportError as error:
            return error

    def _download(self, url: str) -> bytes:
        with httpx.Client(timeout=self.timeout, follow_redirects=True) as http:
            response = http.get(url)
        if response.status_code >= 400:
            raise error_from_response(response)
        return response.content

    async def _adownload(self, url: str) -> bytes:
        response = await self._http.get(url, timeout=self.timeout, follow_redirects=True)
        if response.status_code >= 400:
            raise error_from_response(response)
        return response.content

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncNanoBananaClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def edit_image(
        self,
        *,
        prompt: str,
        image_url: ImageInput,
        strength: float | None = None,
        preserve_scene: bool | None = None,
        output_format: str | None = None,
        seed: int | None = None,
        wait: bool = True,
        wait_timeout: float | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
    ) -> ImageResult:
        params = _params(
            prompt=prompt,
            image_url=image_url,
            strength=strength,
            preserve_scene=preserve_scene,
            output_format=output_format,
            seed=seed,
        )
        return await self._run(
            flows.image_operation(
                self,
                flows.IMAGE_EDIT,
                params,
                wait=wait,
                wait_timeout=wait_timeout,
                idempotency_key=idempotency_key,
                timeout=timeout,
            )
        )

    async def remove_background(
        self,
        *,
        image_url: ImageInput,
        return_mask: bool | None = None,
        edge_smooth: bool | None = None,
        wait: bool = True,
        wait_timeout: float | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
    ) -> ImageResult:
        params = _params(image_url=image_url, return_mask=return_mask, edge_smooth=edge_smooth)
        return await self._run(
            flows.image_operation(
                self,
                flows.REMOVE_BACKGROUND,
                params,
                wait=wait,
                wait_timeout=wait_timeout,
                idempotency_key=idempotency_key,
                timeout=timeout,
            )
        )

    async def text_to_image(
        self,
        *,
        prompt: str,
        width: int | None = None,
        height: int | None = None,
        style: str | None = None,
        quality: str | None = None,
        output_format: str | None = None,
        seed: int | None = None,
        wait: bool = True,
        wait_timeout: float | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
    ) -> ImageResult:
        params = _params(
            prompt=prompt,
            width=width,
            height=height,
            style=style,
            quality=quality,
            output_format=output_format,
            seed=seed,
        )
        return await self._run(
            flows.image_operation(
                self,
                flows.TEXT_TO_IMAGE,
                params,
                wait=wait,
                wait_timeout=wait_timeout,
                idempotency_key=idempotency_key,
                timeout=timeout,
            )
        )

    async def style_transfer(
        self,
        *,
        content_image_url: ImageInput,
        style_image_url: ImageInput,
        strength: float | None = None,
        output_format: str | None = None,
        seed: int | None = None,
        wait: bool = True,
        wait_timeout: float | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
    ) -> ImageResult:
        params = _params(
            content_image_url=content_image_url,
            style_image_url=style_image_url,
            strength=strength,
            output_format=output_format,
            seed=seed,
        )
        return await self._run(
            flows.image_operation(
                self,
                flows.STYLE_TRANSFER,
                params,
                wait=wait,
                wait_timeout=wait_timeout,
                idempotency_key=idempotency_key,
                timeout=timeout,
            )
        )

    async def enhance(
        self,
        *,
        image_url: ImageInput,
        enhancement_type: str | None = None,
        upscale_factor: int | None = None,
        output_format: str | None = None,
        wait: bool = True,
        wait_timeout: float | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
    ) -> ImageResult:
        params = _params(
            image_url=image_url,
            enhancement_type=enhancement_type,
            upscale_factor=upscale_factor,
            output_format=output_format,
        )
        return await self._run(
            flows.image_operation(
                self,
                flows.ENHANCE,
                params,
                wait=wait,
                wait_timeout=wait_timeout,
                idempotency_key=idempotency_key,
                timeout=timeout,
            )
        )

    async def batch_edit(
        self,
        *,
        prompt: str,
        image_urls: list[str],
        preserve_character: bool | None = None,
        style_consistency: bool | None = None,
        output_format: str | None = None,
        seed: int | None = None,
        wait: bool = True,
        wait_timeout: float | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = None,
    ) -> Batch | BatchSubmitted:
        params = _params(
            prompt=prompt,
            image_urls=list(image_urls),
            preserve_character=preserve_character,
            style_consistency=style_consistency,
            output_format=output_format,
            seed=seed,
        )
        return await self._run(
            flows.batch_edit(
                self,
                params,
                wait=wait,
                wait_timeout=wait_timeout,
                idempotency_key=idempotency_key,
                timeout=timeout,
            )
        )

    async def get_task_status(self, task_id: str) -> Task:
        return await self._run(flows.call(self, RequestOptions("GET", f"/task/{task_id}"), Task))

    async def cancel_task(self, task_id: str, *, idempotency_key: str | None = None) -> Task:
        options = RequestOptions("POST", f"/task/{task_id}/cancel", idempotency_key=idempotency_key)
        return await self._run(flows.call(self, options, Task))

    async def get_batch(self, batch_id: str) -> Batch:
        return await self._run(flows.call(self, RequestOptions("GET", f"/batch/{batch_id}"), Batch))

    async def wait_for_task(
        self,
        task_id: str,
        *,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        cancel_on_timeout: bool = False,
        poll_interval: float | None = None,
        raise_on_failure: bool = True,
    ) -> Task:
        """As NanoBananaClient.wait_for_task; `on_progress` may be a coroutine function."""
        return await self._run(
            flows.wait_for_task(
                self,
                task_id,
                timeout=timeout,
                on_progress=on_progress,
                cancel_on_timeout=cancel_on_timeout,
                poll_interval=poll_interval,
                raise_on_failure=raise_on_failure,
            )
        )

    def list_tasks(
        self,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        status: str | None = None,
        operation: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
    ) -> AsyncTaskPaginator:
        """`await client.list_tasks()` for the first page, `async for task in
        client.list_tasks()` for every task across pages."""
        params = flows.list_tasks_params(
            limit=limit,
            starting_after=starting_after,
            status=status,
            operation=operation,
            created_after=created_after,
            created_before=created_before,
        )
        return AsyncTaskPaginator(self, params)

    async def get_account(self) -> Account:
        return await self._run(flows.call(self, RequestOptions("GET", "/account"), Account))

    async def list_webhooks(self) -> list[WebhookEndpoint]:
        options = RequestOptions("GET", "/webhooks")
        return await self._run(flows.call_list(self, options, "webhooks", WebhookEndpoint))

    async def create_webhook(
        self, *, url: str, description: str | None = None, idempotency_key: str | None = None
    ) -> WebhookEndpoint:
        options = RequestOptions(
            "POST",
            "/webhooks",
            json=_params(url=url, description=description),
            idempotency_key=idempotency_key,
        )
        return await self._run(flows.call(self, options, WebhookEndpoint))

    async def get_webhook(self, webhook_id: str) -> WebhookEndpoint:
        options = RequestOptions("GET", f"/webhooks/{webhook_id}")
        return await self._run(flows.call(self, options, WebhookEndpoint))

    async def update_webhook(
        self, webhook_id: str, *, is_active: bool | None = None, description: str | None = None
    ) -> WebhookEndpoint:
        body = _params(is_active=is_active, description=description)
        options = RequestOptions("PATCH", f"/webhooks/{webhook_id}", json=body)
        return await self._run(flows.call(self, options, WebhookEndpoint))

    async def delete_webhook(self, webhook_id: str) -> None:
        options = RequestOptions("DELETE", f"/webhooks/{webhook_id}")
        await self._run(flows.call_no_content(self, options))

    async def rotate_webhook_secret(
        self, webhook_id: str, *, idempotency_key: str | None = None
    ) -> WebhookEndpoint:
        options = RequestOptions(
            "POST", f"/webhooks/{webhook_id}/rotate-secret", idempotency_key=idempotency_key
        )
        return await self._run(flows.call(self, options, WebhookEndpoint))

    async def list_webhook_deliveries(self, webhook_id: str) -> list[WebhookDelivery]:
        options = RequestOptions("GET", f"/webhooks/{webhook_id}/deliveries")
        return await self._run(flows.call_list(self, options, "deliveries", WebhookDelivery))

    async def redeliver_webhook(
        self, delivery_id: str, *, idempotency_key: str | None = None
    ) -> WebhookDelivery:
        options = RequestOptions(
            "POST", f"/webhooks/deliveries/{delivery_id}/redeliver", idempotency_key=idempotency_key
        )
        return await self._run(flows.call(self, options, WebhookDelivery))
