"""Per-account request limits from the plan: sliding windows, atomic, shared by every process.

A sliding-window log admits at most `limit` requests in any `window` seconds (no double burst at
minute boundaries, unlike fixed windows). With Redis (REDIS_URL) one Lua script checks and
records all of a request's windows atomically, on Redis's own clock; without it (embedded mode,
one web process) an in-process log behind a lock does the same.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import redis
from django.conf import settings
from django.utils.translation import gettext as _

from accounts.models import Account
from billing.selectors import account_plan
from core.errors import RateLimitExceeded, TemporaryUnavailable

# Polling /v1/task/{id} and reading /v1/account must stay possible while billable work is limited.
READS_PER_MINUTE = 300


@dataclass(frozen=True)
class Quota:
    name: str
    limit: int
    window: int  # seconds


@dataclass(frozen=True)
class QuotaState:
    quota: Quota
    remaining: int
    reset: int  # seconds until a slot frees up (0 when one is free now)


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    states: tuple[QuotaState, ...]

    @property
    def retry_after(self) -> int:
        return max([s.reset for s in self.states if s.remaining == 0] + [1])

    def headers(self) -> dict[str, str]:
        """The IETF draft's fields (draft-ietf-httpapi-ratelimit-headers)."""
        policy = ", ".join(
            f'"{s.quota.name}";q={s.quota.limit};w={s.quota.window}' for s in self.states
        )
        state = ", ".join(f'"{s.quota.name}";r={s.remaining};t={s.reset}' for s in self.states)
        return {"RateLimit-Policy": policy, "RateLimit": state}


def account_quotas(*, account: Account, billable: bool) -> tuple[Quota, ...]:
    if not billable:
        return (Quota("reads", READS_PER_MINUTE, 60),)
    plan = account_plan(account=account)
    return (
        Quota("minute", plan.requests_per_minute, 60),
        Quota("day", plan.requests_per_day, 86400),
    )


def request_admit(*, account: Account, billable: bool) -> RateDecision:
    """Count one request against the account's limits, or raise RateLimitExceeded (429)."""
    quotas = account_quotas(account=account, billable=billable)
    decision = window_admit(key=_account_key(account), quotas=quotas)
    if not decision.allowed:
        full = [s.quota.name for s in decision.states if s.remaining == 0]
        raise RateLimitExceeded(
            _("Limit reached (%(which)s); retry in %(seconds)d s.")
            % {"which": ", ".join(full), "seconds": decision.retry_after},
            headers={"Retry-After": str(decision.retry_after), **decision.headers()},
        )
    return decision


@dataclass(frozen=True)
class QuotaUsage:
    quota: Quota
    used: int


def account_quota_usage(*, account: Account) -> tuple[QuotaUsage, ...]:
    """How much of each billable window the account has used, counting nothing (the dashboard).
    TemporaryUnavailable when the shared counter is unreachable."""
    quotas = account_quotas(account=account, billable=True)
    key = _account_key(account)
    used = _redis_used(key=key, quotas=quotas) if settings.REDIS_URL else _local_used(key, quotas)
    return tuple(QuotaUsage(quota=q, used=n) for q, n in zip(quotas, used, strict=True))


def _account_key(account: Account) -> str:
    return f"account:{account.pk}"


def _log_name(key: str, quota: Quota) -> str:
    """One window's log: the admit that records it and the dashboard that reads it agree."""
    return f"{key}:{quota.name}"


def _redis_log_name(key: str, quota: Quota) -> str:
    return f"nb:rl:{_log_name(key, quota)}"


def window_admit(*, key: str, quotas: tuple[Quota, ...]) -> RateDecision:
    if settings.REDIS_URL:
        return _redis_admit(key=key, quotas=quotas)
    return _local_admit(key=key, quotas=quotas)


# --- Redis -------------------------------------------------------------------------------------

_SLIDING_WINDOWS = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local allowed = 1
local out = {}
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local count = redis.call('ZCARD', KEYS[i])
  local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
  local reset = 0
  if oldest[2] then reset = tonumber(oldest[2]) + window - now end
  if count >= limit then allowed = 0 end
  out[2 * i - 1] = count
  out[2 * i] = reset
end
if allowed == 1 then
  for i = 1, #KEYS do
    redis.call('ZADD', KEYS[i], now, ARGV[1])
    redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2 * i + 1]))
  end
end
table.insert(out, 1, allowed)
return out
"""


@cache
def _redis_script(url: str) -> redis.commands.core.Script:
    client = redis.Redis.from_url(
        url,
        socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
        socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
    )
    return client.register_script(_SLIDING_WINDOWS)


def _redis_admit(*, key: str, quotas: tuple[Quota, ...]) -> RateDecision:
    keys = [_redis_log_name(key, q) for q in quotas]
    args: list[str | int] = [uuid.uuid4().hex]
    for quota in quotas:
        args += [quota.limit, quota.window * 1000]
    try:
        allowed, *flat = _redis_script(settings.REDIS_URL)(keys=keys, args=args)
    except redis.RedisError as error:
        # Fail closed: without the shared counter no limit can be promised.
        raise TemporaryUnavailable(_("Rate limiting is unavailable; retry shortly.")) from error
    counts_resets = [(int(flat[2 * i]), int(flat[2 * i + 1])) for i in range(len(quotas))]
    return _decision(bool(allowed), quotas, counts_resets, reset_unit=1000)


def _redis_used(*, key: str, quotas: tuple[Quota, ...]) -> list[int]:
    client = _redis_script(settings.REDIS_URL).registered_client
    now_ms = time.time() * 1000
    try:
        with client.pipeline(transaction=False) as pipe:
            for quota in quotas:
                pipe.zcount(_redis_log_name(key, quota), f"({now_ms - quota.window * 1000}", "+inf")
            return [int(n) for n in pipe.execute()]
    except redis.RedisError as error:
        raise TemporaryUnavailable(_("Rate limiting is unavailable; retry shortly.")) from error


# --- In-process (embedded mode) -------------------------------------------------------------------

_local_logs: dict[str, deque[float]] = {}
_local_lock = threading.Lock()


def _local_admit(*, key: str, quotas: tuple[Quota, ...]) -> RateDecision:
    now = time.time()
    with _local_lock:
        logs = [_local_logs.setdefault(_log_name(key, q), deque()) for q in quotas]
        counts_resets = []
        for quota, log in zip(quotas, logs, strict=True):
            while log and log[0] <= now - quota.window:
                log.popleft()
            counts_resets.append((len(log), log[0] + quota.window - now if log else 0.0))
        allowed = all(count < q.limit for q, (count, _) in zip(quotas, counts_resets, strict=True))
        if allowed:
            for log in logs:
                log.append(now)
    return _decision(allowed, quotas, counts_resets, reset_unit=1)


def _local_used(key: str, quotas: tuple[Quota, ...]) -> list[int]:
    now = time.time()
    with _local_lock:
        logs = [_local_logs.get(_log_name(key, q), deque()) for q in quotas]
        pairs = zip(quotas, logs, strict=True)
        return [sum(1 for moment in log if moment > now - q.window) for q, log in pairs]


def _decision(
    allowed: bool,
    quotas: tuple[Quota, ...],
    counts_resets: Sequence[tuple[float, float]],
    reset_unit: int,
) -> RateDecision:
    states = []
    for quota, (count, reset) in zip(quotas, counts_resets, strict=True):
        remaining = max(quota.limit - int(count) - (1 if allowed else 0), 0)
        seconds = math.ceil(reset / reset_unit) if reset > 0 else 0
        if allowed and count == 0:
            seconds = quota.window  # this request opened the window
        states.append(QuotaState(quota=quota, remaining=remaining, reset=seconds))
    return RateDecision(allowed=allowed, states=tuple(states))
