"""The official Python client for the Nano Banana image API.

from nanobanana import NanoBananaClient

client = NanoBananaClient()          # NANOBANANA_API_KEY, NANOBANANA_BASE_URL
result = client.edit_image(prompt="将背景改为海滩", image_url="photo.jpg")
result.save("edited.jpg")
"""

from . import webhooks
from ._client import AsyncNanoBananaClient, AsyncTaskPage, NanoBananaClient, TaskPage
from ._constants import DEFAULT_BASE_URL, MAX_FILE_SIZE_MB
from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ConflictError,
    FileTooLargeError,
    InsufficientCreditsError,
    InvalidApiKeyError,
    InvalidRequestError,
    NanoBananaError,
    NotFoundError,
    ProcessingError,
    RateLimitError,
    TaskCancelledError,
    TaskTimeoutError,
    TemporaryUnavailableError,
    UnsupportedFormatError,
    WebhookVerificationError,
)
from ._models import (
    Account,
    APIObject,
    Batch,
    BatchSubmitted,
    ImageResult,
    Task,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from ._version import __version__

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_FILE_SIZE_MB",
    "APIConnectionError",
    "APIObject",
    "APIStatusError",
    "APITimeoutError",
    "Account",
    "AsyncNanoBananaClient",
    "AsyncTaskPage",
    "Batch",
    "BatchSubmitted",
    "ConflictError",
    "FileTooLargeError",
    "ImageResult",
    "InsufficientCreditsError",
    "InvalidApiKeyError",
    "InvalidRequestError",
    "NanoBananaClient",
    "NanoBananaError",
    "NotFoundError",
    "ProcessingError",
    "RateLimitError",
    "Task",
    "TaskCancelledError",
    "TaskPage",
    "TaskTimeoutError",
    "TemporaryUnavailableError",
    "UnsupportedFormatError",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "WebhookVerificationError",
    "__version__",
    "webhooks",
]
