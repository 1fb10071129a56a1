"""The answers: dicts that also offer their fields as typed attributes, and carry the request's
id and credit headers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

import httpx

__all__ = [
    "APIObject",
    "Account",
    "Batch",
    "BatchSubmitted",
    "ImageResult",
    "ResponseMeta",
    "Task",
    "TaskError",
    "TaskResult",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]


class _Downloader(Protocol):
    def _download(self, url: str) -> bytes: ...

    async def _adownload(self, url: str) -> bytes: ...


class ResponseMeta:
    """What the answer's headers said: `X-Request-ID`, `X-Credits-Used`, `X-Credits-Remaining`."""

    __slots__ = ("credits_remaining", "credits_used", "headers", "request_id", "status_code")

    def __init__(self, response: httpx.Response | None = None) -> None:
        headers = response.headers if response is not None else httpx.Headers()
        self.headers = headers
        self.status_code = response.status_code if response is not None else None
        self.request_id: str | None = headers.get("x-request-id")
        self.credits_used: int | None = _int_or_none(headers.get("x-credits-used"))
        remaining = headers.get("x-credits-remaining")
        self.credits_remaining: int | Literal["unlimited"] | None = (
            "unlimited" if remaining == "unlimited" else _int_or_none(remaining)
        )


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class APIObject(dict[str, Any]):
    """A JSON object from the API: `obj["field"]` and `obj.field` both work. Declared fields that
    the answer lacks read as None; nested objects are APIObjects too."""

    # Nested fields and the class their objects (or lists of objects) become.
    _nested: ClassVar[dict[str, type[APIObject]]] = {}

    def __init__(
        self,
        data: dict[str, Any] | None = None,
        *,
        meta: ResponseMeta | None = None,
        client: _Downloader | None = None,
    ) -> None:
        super().__init__()
        for key, value in (data or {}).items():
            self[key] = self._convert(key, value, client)
        object.__setattr__(self, "_meta", meta or ResponseMeta())
        object.__setattr__(self, "_client", client)

    def _convert(self, key: str, value: Any, client: _Downloader | None) -> Any:
        cls = self._nested.get(key, APIObject)
        if isinstance(value, dict) and not isinstance(value, APIObject):
            return cls(value, client=client)
        if isinstance(value, list):
            return [cls(item, client=client) if isinstance(item, dict) else item for item in value]
        return value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            if name in _declared(type(self)):
                return None
            raise AttributeError(f"{type(self).__name__!s} has no field {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self.keys()})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict.__repr__(self)})"

    def __reduce__(self) -> Any:  # picklable as a plain mapping (meta and client are transient)
        return (type(self), (dict(self),))

    def to_dict(self) -> dict[str, Any]:
        """A plain-dict copy, nested objects included (for json.dumps and friends)."""
        plain: dict[str, Any] = _plain(self)
        return plain

    # From the response headers.
    @property
    def request_id(self) -> str | None:
        return self._meta.request_id

    @property
    def credits_used(self) -> int | None:
        """What this request was charged (`X-Credits-Used`; the body's field when absent)."""
        used = self._meta.credits_used
        return used if used is not None else dict.get(self, "credits_used")

    @property
    def credits_remaining(self) -> int | Literal["unlimited"] | None:
        """The balance after this request (`X-Credits-Remaining`), `"unlimited"` on Max."""
        return self._meta.credits_remaining

    @property
    def headers(self) -> httpx.Headers:
        return self._meta.headers

    if TYPE_CHECKING:
        _meta: ResponseMeta
        _client: _Downloader | None


def _declared(cls: type) -> set[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        names.update(getattr(klass, "__annotations__", {}))
    return names


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


class _Downloadable(APIObject):
    """An answer with a result link: `read()` / `save(path)` fetch it (async: `aread`, `asave`).
    Result links are signed and expire (24 h by default); `get_task_status` signs fresh ones."""

    def _result_url(self, which: str) -> str:
        raise NotImplementedError

    def _client_or_fail(self) -> _Downloader:
        if self._client is None:
            raise RuntimeError("this result is not attached to a client")
        return self._client

    def read(self, which: Literal["image", "mask"] = "image") -> bytes:
        """The result image (or mask) as bytes."""
        return self._client_or_fail()._download(self._result_url(which))

    def save(self, path: str | os.PathLike[str], which: Literal["image", "mask"] = "image") -> Path:
        """Writes the result image (or mask) to `path`; returns the path."""
        target = Path(path)
        target.write_bytes(self.read(which))
        return target

    async def aread(self, which: Literal["image", "mask"] = "image") -> bytes:
        return await self._client_or_fail()._adownload(self._result_url(which))

    async def asave(
        self, path: str | os.PathLike[str], which: Literal["image", "mask"] = "image"
    ) -> Path:
        target = Path(path)
        target.write_bytes(await self.aread(which))
        return target


def _require(url: Any, what: str) -> str:
    if not url:
        raise ValueError(f"no {what} link in this answer (is the task finished?)")
    return str(url)


class ImageResult(_Downloadable):
    """An image operation's answer. Finished (`wait=True`): `task_id`, `image_url`,
    `description`, `processing_time`, `credits_used` (and `mask_url` for remove_background).
    Accepted (`wait=False`): the 202 form, `task_id`, `status`, `credits_used`."""

    success: bool
    task_id: str
    image_url: str | None
    mask_url: str | None
    description: str | None
    processing_time: float | None

    @property
    def status(self) -> str | None:
        """`pending`/`processing` in the accepted form, `completed` once there is an image."""
        status = dict.get(self, "status")
        if status is None and dict.get(self, "image_url"):
            return "completed"
        return status

    def _result_url(self, which: str) -> str:
        return _require(self.get("mask_url" if which == "mask" else "image_url"), which)


class TaskResult(APIObject):
    image_url: str | None
    mask_url: str | None
    description: str | None


class TaskError(APIObject):
    code: str
    message: str


class Task(_Downloadable):
    """A task as `GET /v1/task/{id}` shows it."""

    _nested: ClassVar[dict[str, type[APIObject]]] = {"result": TaskResult, "error": TaskError}
    task_id: str
    status: str
    progress: int
    result: TaskResult | None
    error: TaskError | None
    created_at: str
    completed_at: str | None
    operation: str | None

    @property
    def is_finished(self) -> bool:
        return self.get("status") in ("completed", "failed", "cancelled")

    def _result_url(self, which: str) -> str:
        result = self.get("result") or {}
        return _require(result.get("mask_url" if which == "mask" else "image_url"), which)


class BatchTaskRef(APIObject):
    task_id: str
    status: str


class BatchSubmitted(APIObject):
    """`batch_edit(wait=False)`: the batch as submitted."""

    _nested: ClassVar[dict[str, type[APIObject]]] = {"tasks": BatchTaskRef}
    success: bool
    batch_id: str
    tasks: list[BatchTaskRef]
    total_credits: int


class Batch(APIObject):
    """A batch as `GET /v1/batch/{id}` shows it: `status` is `pending`, `processing`, then
    `completed`, `partial` or `failed`."""

    _nested: ClassVar[dict[str, type[APIObject]]] = {"tasks": Task}
    batch_id: str
    status: str
    counts: dict[str, int]
    total_credits: int
    created_at: str
    tasks: list[Task]

    @property
    def is_finished(self) -> bool:
        return self.get("status") in ("completed", "partial", "failed")


class Subscription(APIObject):
    plan: str
    status: str
    expires_at: str | None


class Credits(APIObject):
    balance: int
    used_this_month: int
    last_renewed: str | None
    unlimited: bool


class UsageLimits(APIObject):
    max_images_per_request: int
    max_file_size_mb: int
    allowed_formats: list[str]


class Account(APIObject):
    _nested: ClassVar[dict[str, type[APIObject]]] = {
        "subscription": Subscription,
        "credits": Credits,
        "usage_limits": UsageLimits,
    }
    user_id: str
    email: str
    subscription: Subscription
    credits: Credits
    usage_limits: UsageLimits


class WebhookEndpoint(APIObject):
    id: str
    url: str
    description: str
    is_active: bool
    disabled_reason: str
    created_at: str
    secret: str | None


class WebhookDelivery(APIObject):
    id: str
    endpoint_id: str
    task_id: str
    type: str
    status: str
    attempts: int
    next_attempt_at: str | None
    last_attempt_at: str | None
    last_status_code: int | None
    last_error: str
    created_at: str
    payload: dict[str, Any]


class WebhookEvent(APIObject):
    """A verified webhook message: `type` (`task.completed` / `task.failed`), `timestamp`,
    and `data`, the task as `GET /v1/task/{id}` shows it."""

    _nested: ClassVar[dict[str, type[APIObject]]] = {"data": Task}
    type: str
    timestamp: str
    data: Task
