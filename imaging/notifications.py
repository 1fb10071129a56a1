"""Task-finished notifications: the worker publishes, requests waiting for that task wake at once.
Details: docs/api.md#image-operations"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import weakref
from collections import defaultdict
from functools import cache

import redis
import redis.asyncio
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, connections

from imaging.models import Task
from imaging.selectors import task_finished_aget, tasks_finished

logger = logging.getLogger(__name__)

CHANNEL = "nanobanana:task-finished"
# With a live subscription the rows are re-read this often anyway (a message may be lost).
RECHECK_SECONDS = 5.0
POLL_SECONDS = 0.25


@cache
def _publisher(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
        socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
    )


def task_finished_publish(*, task_id: int) -> None:
    """Tell waiting requests the task finished; best effort (the watcher re-reads rows anyway)."""
    if not settings.REDIS_URL:
        return
    try:
        _publisher(settings.REDIS_URL).publish(CHANNEL, str(task_id))
    except redis.RedisError:
        logger.warning("could not publish that task %s finished", task_id, exc_info=True)


def connections_release() -> None:
    """Give back this thread's database connections (to the pool on PostgreSQL).

    A request calls it before it waits: hundreds of waiting requests must not hold hundreds of
    connections. The watcher calls it after each read: its thread serves no request, so nothing
    else would ever close (or notice a broken) connection there. A connection inside a
    transaction (the test suite's) stays.
    """
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()


def _finished_tasks(task_ids: list[int]) -> list[Task]:
    try:
        return tasks_finished(task_ids=task_ids)
    finally:
        connections_release()


class _Watcher:
    """Wakes the requests of one event loop when their tasks finish."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.connected = False
        self._waiters: dict[int, set[asyncio.Future[Task]]] = defaultdict(set)
        self._wake = asyncio.Event()
        # A fresh context: the watcher outlives the request that started it, and its database
        # reads must not go to that request's thread.
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._check_loop(), context=contextvars.Context())]
        if redis_url:
            self._tasks.append(
                loop.create_task(self._subscribe_loop(), context=contextvars.Context())
            )

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def wait(self, task_id: int, timeout: float) -> Task | None:
        future: asyncio.Future[Task] = asyncio.get_running_loop().create_future()
        self._waiters[task_id].add(future)
        self._wake.set()  # look once right away: it may have finished already
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None
        finally:
            futures = self._waiters.get(task_id)
            if futures is not None:
                futures.discard(future)
                if not futures:
                    del self._waiters[task_id]

    async def _check_loop(self) -> None:
        read = sync_to_async(_finished_tasks, thread_sensitive=True)
        while True:
            interval = RECHECK_SECONDS if self.connected else POLL_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            self._wake.clear()
            if not self._waiters:
                continue
            try:
                tasks = await read(list(self._waiters))
            except DatabaseError:
                logger.warning("could not read waited-for tasks", exc_info=True)
                continue
            for task in tasks:
                for future in self._waiters.get(task.pk, ()):
                    if not future.done():
                        future.set_result(task)

    async def _subscribe_loop(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._listen()
            except (redis.RedisError, OSError):
                logger.warning("task notification subscription lost; retrying", exc_info=True)
            self.connected = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _listen(self) -> None:
        client = redis.asyncio.Redis.from_url(
            self.redis_url,
            socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
            health_check_interval=10,
        )
        async with client, client.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe(CHANNEL)
            self.connected = True
            self._wake.set()  # finishes missed while connecting
            while True:
                message = await pubsub.get_message(timeout=RECHECK_SECONDS)
                if message is None:
                    await pubsub.ping()  # a dead connection shows itself here
                    continue
                with contextlib.suppress(ValueError):
                    if int(message["data"]) in self._waiters:
                        self._wake.set()


_watchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watcher] = (
    weakref.WeakKeyDictionary()
)


# Event loops of an ASGI server: long-lived, so a watcher started there outlives its requests.
# Anywhere else (Django's WSGI handler and test client run each async view in a loop of its own,
# closed when the view returns) a request polls its task row itself.
_server_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


def loop_serves_requests() -> None:
    """Mark the running loop as an ASGI server's (called by config.asgi per request)."""
    _server_loops.add(asyncio.get_running_loop())


def _watcher() -> _Watcher:
    loop = asyncio.get_running_loop()
    watcher = _watchers.get(loop)
    if watcher is None or watcher.redis_url != settings.REDIS_URL:
        if watcher is not None:
            watcher.close()
        watcher = _watchers[loop] = _Watcher(settings.REDIS_URL)
    return watcher


async def task_wait_finished(*, task_id: int, timeout: float) -> Task | None:
    """The task once it has finished, or None when `timeout` seconds pass first."""
    if timeout <= 0:
        return None
    if asyncio.get_running_loop() in _server_loops:
        return await _watcher().wait(task_id, timeout)
    return await _poll(task_id=task_id, timeout=timeout)


async def _poll(*, task_id: int, timeout: float) -> Task | None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = POLL_SECONDS / 4
    while True:
        task = await task_finished_aget(task_id=task_id)
        remaining = deadline - loop.time()
        if task is not None or remaining <= 0:
            return task
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * 2, POLL_SECONDS * 2)
