"""Defaults shared by the clients, the CLI and the docs."""

from __future__ import annotations

import httpx

DEFAULT_BASE_URL = "https://api.nanobanana.ai/v1"
API_KEY_ENV = "NANOBANANA_API_KEY"
BASE_URL_ENV = "NANOBANANA_BASE_URL"

# An image call may be held by the server for up to its sync wait (30 s) before it answers 202,
# so the read timeout must comfortably exceed that.
DEFAULT_TIMEOUT = httpx.Timeout(120.0, connect=10.0)
DEFAULT_MAX_RETRIES = 2

# Retries: exponential backoff from 0.5 s, doubling, capped at 8 s, with jitter; a server's
# Retry-After is honoured when it asks for at most 60 s.
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0
RETRY_STATUSES = frozenset({429, 503})

# The largest file any plan accepts (Max: 20 MB; Free and Basic 5 MB, Pro 10 MB). Anything
# larger is refused before it is uploaded; smaller files over *your* plan's limit get the server's
# 413, raised as FileTooLargeError.
MAX_FILE_SIZE_MB = 20
MAX_FILE_SIZE_BYTES = MAX_FILE_SIZE_MB * 1024 * 1024

# Polling GET /v1/task/{id} while waiting: from 0.5 s, x1.5, at most 2 s between polls (progress
# stays live), for at most 10 minutes unless told otherwise (the server's hard limit per task).
POLL_INITIAL_INTERVAL = 0.5
POLL_MAX_INTERVAL = 2.0
DEFAULT_WAIT_TIMEOUT = 600.0

FINISHED_STATUSES = frozenset({"completed", "failed", "cancelled"})
