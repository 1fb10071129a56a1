"""Load generator for bench/api.py: a small HTTP/1.1 keep-alive client on raw asyncio streams.

Runs in its own process so the server's CPU and the client's are never the same interpreter. Reads
one JSON spec on stdin and prints one JSON result on stdout:

- `{"mode": "closed", ...}`: `concurrency` connections, each sending the request back to back for
  `warmup` + `duration` seconds; the answers that arrive inside the measured window (after the
  warm-up) are counted, and throughput is their number over the window's length.
- `{"mode": "once", ...}`: `concurrency` connections opened first, then one request on each, all
  released together; each answer's wall-clock receive time, status and `task_id` are reported.
  SIGTERM ends the requests still waiting (reported with status 0) and prints the result.

Raw streams rather than httpx: at ~1000 requests/s on two cores, a heavier client would take the
CPU the server is being measured on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Awaitable, Callable


def build_request(spec: dict) -> bytes:
    body = spec.get("body")
    payload = b"" if body is None else json.dumps(body).encode()
    lines = [
        f"{spec['method']} {spec['path']} HTTP/1.1",
        f"Host: {spec['host']}:{spec['port']}",
        "Connection: keep-alive",
        "Accept: application/json",
    ]
    lines += [f"{name}: {value}" for name, value in spec.get("headers", {}).items()]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        """One request and its whole answer; reconnects first when the server closed the link."""
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, chunked, close = 0, False, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = b"close" in value.lower()
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            body = b"".join(p[:-2] for p in parts)
        else:
            body = await self.reader.readexactly(length)
        if close:
            await self.close()
        return status, body


async def closed_loop(spec: dict) -> dict:
    raw = build_request(spec)
    # perf_counter, not loop.time(): uvloop's clock has millisecond steps, cached per iteration.
    started = time.perf_counter()
    measure_from = started + spec["warmup"]
    measure_to = measure_from + spec["duration"]
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors: list[str] = []
    answered = [0]  # every answer, warm-up included (server CPU per request is over all of them)

    async def client() -> None:
        conn = Connection(spec["host"], spec["port"])
        try:
            while (begin := time.perf_counter()) < measure_to:
                try:
                    status, _body = await conn.send(raw)
                except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                    errors.append(repr(error))
                    await conn.close()
                    continue
                end = time.perf_counter()
                answered[0] += 1
                # Counted by when they end: with latencies near a second, counting only those
                # that also started inside the window would undercount throughput.
                if measure_from <= end <= measure_to:
                    latencies.append(end - begin)
                    statuses[str(status)] = statuses.get(str(status), 0) + 1
        finally:
            await conn.close()

    await asyncio.gather(*(client() for _ in range(spec["concurrency"])))
    return {
        "latencies": latencies,
        "statuses": statuses,
        "elapsed": spec["duration"],
        "answered": answered[0],
        "errors": errors[:5],
        "error_count": len(errors),
    }


async def once_each(spec: dict) -> dict:
    raw = build_request(spec)
    conns = [Connection(spec["host"], spec["port"]) for _ in range(spec["concurrency"])]
    # Connect in modest waves so the listen backlog never overflows.
    for first in range(0, len(conns), 100):
        await asyncio.gather(*(c.open() for c in conns[first : first + 100]))
    go = asyncio.Event()
    results: list[dict] = []

    rate = spec.get("arrivals_per_second") or 0

    async def client(index: int, conn: Connection) -> None:
        await go.wait()
        if rate:  # clients arrive at a steady rate rather than all in the same instant
            await asyncio.sleep(index / rate)
        begin = time.perf_counter()
        try:
            status, body = await asyncio.wait_for(conn.send(raw), spec["timeout"])
        except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as error:
            results.append({"status": 0, "error": repr(error)})
            return
        except asyncio.CancelledError:
            results.append({"status": 0, "error": "stopped by the bench (SIGTERM)"})
            return
        received = time.time()
        task_id = None
        with contextlib.suppress(ValueError, AttributeError):
            task_id = json.loads(body).get("task_id")
        results.append(
            {
                "status": status,
                "received": received,
                "latency": time.perf_counter() - begin,
                "task_id": task_id,
            }
        )

    runners = [asyncio.create_task(client(i, c)) for i, c in enumerate(conns)]
    # SIGTERM (the bench saw no progress) ends the waits still open and reports what came back.
    asyncio.get_running_loop().add_signal_handler(
        signal.SIGTERM, lambda: [r.cancel() for r in runners if not r.done()]
    )
    sent_at = time.time()
    go.set()
    await asyncio.gather(*runners, return_exceptions=True)
    await asyncio.gather(*(c.close() for c in conns))
    return {"results": results, "sent_at": sent_at}


def spec_run(runner: Callable[[dict], Awaitable[dict]]) -> None:
    """A load process's body: the spec from stdin, `runner` on it (on uvloop where installed),
    its result as JSON on stdout (bench/growth.py's rounds use it too)."""
    spec = json.loads(sys.stdin.read())
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(runner(spec))
    else:
        result = uvloop.run(runner(spec))
    print(json.dumps(result))


def main() -> None:
    spec_run(lambda spec: (closed_loop if spec["mode"] == "closed" else once_each)(spec))


if __name__ == "__main__":
    main()
