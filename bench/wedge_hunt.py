"""Hunts the rare wedge of docs/reliability.md: a Celery worker that, after Redis went away and
came back, stops taking messages. On a stack of its own (tests/integration/stack.py: its own Redis
and PostgreSQL) it injects Redis faults in turn (freezes of 1, 5 and 20 s, idle or while a task
runs; kills with an empty restart on the same port, at once or after a delay), and after each one
checks that the worker completes a new task within `--bound` seconds. On a wedge it captures
evidence under var/wedge-hunt/<time>/ (py-spy dumps of the worker and its pool, `celery inspect
active_queues`/`stats`, Redis `CLIENT LIST`, the worker log's tail), then waits `--recover-wait`
seconds to see whether the worker takes the task after all (with the watchdog on, how long the
watchdog took), then restarts the worker to go on. Prints one table.

    .venv/bin/python bench/wedge_hunt.py --watchdog off --minutes 30
    .venv/bin/python bench/wedge_hunt.py --watchdog on --cycles 40
    .venv/bin/python bench/wedge_hunt.py --quick     # 2 cycles, what its test runs

py-spy is optional (`.venv/bin/pip install py-spy`, a throw-away tool). Exits 1 when a wedge did
not recover within --recover-wait.
"""

from __future__ import annotations

import argparse
import base64
import io
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.stack import (  # noqa: E402
    BIN,
    FINISHED,
    FaultStack,
    PostgresCluster,
    RedisServer,
    missing_parts,
    wait_until,
)

WATCHDOG_SECONDS = 2


def data_url(size: int) -> str:
    from PIL import Image

    gradient = Image.linear_gradient("L").resize((size, size)).convert("RGB")
    buffer = io.BytesIO()
    gradient.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


QUICK = {"image_url": data_url(64), "enhancement_type": "color"}
SLOW = {"image_url": data_url(640), "enhancement_type": "upscale", "upscale_factor": 2}
ASYNC = {"Prefer": "respond-async"}


@dataclass
class Row:
    count: int = 0
    wedges: int = 0
    recovered: int = 0
    recovery: list[float] = field(default_factory=list)


class Hunt:
    def __init__(self, stack: FaultStack, bound: float, recover_wait: float) -> None:
        self.stack = stack
        self.bound = bound
        self.recover_wait = recover_wait
        issued = stack.manage("issue_api_key", "--email", "hunt@example.com", "--plan", "pro",
                              "--credits", "1000000")  # fmt: skip
        self.headers = {"Authorization": f"Bearer {issued.stdout.strip().splitlines()[-1]}"}
        self.rows: dict[str, Row] = defaultdict(Row)
        self.evidence: list[Path] = []

    # --- the API -------------------------------------------------------------------------------
    def submit(self, body: dict, timeout: float) -> str:
        """A task accepted (202), retried through the 503s of an outage for `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                status, _h, answer = self.stack.request(
                    "/v1/enhance", {**self.headers, **ASYNC}, "POST", body, timeout=15
                )
                if status == 202:
                    return answer["task_id"]
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("no task accepted")
            time.sleep(0.5)

    def status(self, task_id: str) -> str:
        try:
            code, _h, answer = self.stack.request(f"/v1/task/{task_id}", self.headers)
        except OSError:
            return "?"
        return answer.get("status", "?") if code == 200 else "?"

    def finished_within(self, task_id: str, timeout: float) -> float | None:
        try:
            return wait_until(lambda: self.status(task_id) in FINISHED, timeout, task_id, every=0.5)
        except TimeoutError:
            return None

    # --- faults --------------------------------------------------------------------------------
    def busy(self) -> None:
        """A slow task running in the worker (best effort)."""
        task_id = self.submit(SLOW, 30)
        try:
            wait_until(lambda: self.status(task_id) == "processing", 30, "processing", every=0.3)
            time.sleep(0.5)
        except TimeoutError:
            pass

    def freeze(self, seconds: float, busy: bool) -> None:
        if busy:
            self.busy()
        self.stack.redis.freeze()
        time.sleep(seconds)
        self.stack.redis.thaw()

    def restart(self, delay: float, busy: bool) -> None:
        if busy:
            self.busy()
        self.stack.redis.kill()
        time.sleep(delay)
        self.stack.redis.start()  # empty, on the same port

    def faults(self) -> dict[str, object]:
        return {
            "freeze 1 s idle": lambda: self.freeze(1, False),
            "freeze 5 s idle": lambda: self.freeze(5, False),
            "freeze 20 s idle": lambda: self.freeze(20, False),
            "freeze 5 s busy": lambda: self.freeze(5, True),
            "freeze 20 s busy": lambda: self.freeze(20, True),
            "kill+restart now": lambda: self.restart(0, False),
            "kill+restart 10 s": lambda: self.restart(10, False),
            "kill+restart busy": lambda: self.restart(1, True),
        }

    # --- one cycle -----------------------------------------------------------------------------
    def cycle(self, kind: str, fault: object) -> None:
        row = self.rows[kind]
        row.count += 1
        fault()
        started = time.monotonic()
        task_id = self.submit(QUICK, self.bound)
        took = self.finished_within(task_id, self.bound - (time.monotonic() - started))
        if took is not None:
            return
        row.wedges += 1
        waited = time.monotonic() - started
        folder = self.capture(kind, task_id)
        print(f"WEDGE after {kind!r}: task {task_id} not done in {waited:.0f} s; {folder}")
        more = self.finished_within(task_id, self.recover_wait)
        if more is not None:
            row.recovered += 1
            row.recovery.append(waited + more)
            print(f"  recovered by itself {waited + more:.0f} s after the fault")
        else:
            print(f"  no recovery in {self.recover_wait:.0f} s more; restarting the worker")
        (folder / "after.txt").write_text(self.stack.log_tail("worker.log", 80))
        self.stack.worker_stop()
        self.stack.worker_start()

    def capture(self, kind: str, task_id: str) -> Path:
        folder = ROOT / "var" / "wedge-hunt" / time.strftime("%Y%m%dT%H%M%S")
        folder.mkdir(parents=True, exist_ok=True)
        stack = self.stack
        lines = [f"fault: {kind}", f"task: {task_id}", ""]
        spy = BIN / "py-spy"
        for pid in [stack.worker.pid, *stack.worker_children()]:
            if spy.exists():
                dump = subprocess.run([str(spy), "dump", "--pid", str(pid)], capture_output=True,
                                      text=True, timeout=60, check=False)  # fmt: skip
                lines += [f"--- py-spy dump {pid}", dump.stdout + dump.stderr]
        for what in ("active_queues", "stats"):
            inspect = subprocess.run(
                [str(BIN / "celery"), "-A", "config", "inspect", what, "--timeout", "5"],
                cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            lines += [f"--- celery inspect {what}", inspect.stdout + inspect.stderr]
        if cli := shutil.which("redis-cli"):
            for command in (["CLIENT", "LIST"], ["KEYS", "*"], ["LLEN", "cpu"]):
                out = subprocess.run(
                    [cli, "-p", str(stack.redis.port), *command],
                    capture_output=True,
                    text=True,
                    timeout=10,
                    check=False,
                )
                lines += [f"--- redis {' '.join(command)}", out.stdout + out.stderr]
        lines += ["--- worker.log tail", stack.log_tail("worker.log", 80)]
        (folder / "evidence.txt").write_text("\n".join(lines))
        print("\n".join(lines)[-6000:])
        self.evidence.append(folder)
        return folder

    def table(self, minutes: float, watchdog: str) -> str:
        header = f"{'fault':<20} {'count':>5} {'wedges':>6} {'recovered':>9} {'recovery s':>10}"
        out = [f"wedge hunt, watchdog {watchdog}, {minutes:.1f} min", header]
        total = Row()
        for kind, row in self.rows.items():
            seconds = ", ".join(f"{s:.0f}" for s in row.recovery) or "-"
            out.append(f"{kind:<20} {row.count:>5} {row.wedges:>6} {row.recovered:>9} "
                       f"{seconds:>10}")  # fmt: skip
            total.count += row.count
            total.wedges += row.wedges
            total.recovered += row.recovered
        out.append(f"{'all':<20} {total.count:>5} {total.wedges:>6} {total.recovered:>9}")
        return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watchdog", choices=("on", "off"), default="off")
    parser.add_argument("--cycles", type=int, default=0, help="stop after N faults (0: no limit)")
    parser.add_argument("--minutes", type=float, default=10.0, help="stop after M minutes")
    parser.add_argument("--bound", type=float, default=60.0, help="seconds a new task may take")
    parser.add_argument("--recover-wait", type=float, default=120.0)
    parser.add_argument("--quick", action="store_true", help="2 cycles, under 90 s")
    args = parser.parse_args()
    if args.quick:
        args.cycles, args.minutes, args.bound, args.recover_wait = 2, 3, 45, 30
    if why := missing_parts():
        print(f"cannot run: {why}")
        return 2
    redis, postgres = RedisServer(), PostgresCluster()
    stack = FaultStack(
        var_dir=Path(tempfile.mkdtemp(prefix="nb-wedge-")),
        redis=redis,
        postgres=postgres,
        with_beat=True,
        settings={
            "IMAGING_TASK_LEASE_SECONDS": "3",
            "IMAGING_SWEEP_SECONDS": "1",
            "IMAGING_CONSUMER_WATCHDOG_SECONDS": "0" if args.watchdog == "off" else
            str(WATCHDOG_SECONDS),
        },
    )  # fmt: skip
    started = time.monotonic()
    hunt = None
    try:
        redis.start()
        postgres.start()
        stack.start()
        hunt = Hunt(stack, args.bound, args.recover_wait)
        faults = hunt.faults()
        order = ["freeze 1 s idle", "kill+restart now"] if args.quick else list(faults)
        for n in itertools.count():
            if args.cycles and n >= args.cycles:
                break
            if time.monotonic() - started > args.minutes * 60:
                break
            kind = order[n % len(order)]
            hunt.cycle(kind, faults[kind])
            print(f"cycle {n + 1}: {kind} ok={hunt.rows[kind].wedges == 0}", flush=True)
    finally:
        stack.stop()
        redis.kill()
        postgres.stop()
        shutil.rmtree(stack.var_dir, ignore_errors=True)
    if hunt is None:
        return 2
    print(hunt.table((time.monotonic() - started) / 60, args.watchdog))
    for folder in hunt.evidence:
        print(f"evidence: {folder}")
    stuck = sum(row.wedges - row.recovered for row in hunt.rows.values())
    return 1 if stuck else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
