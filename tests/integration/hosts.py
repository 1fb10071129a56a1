"""Several hosts on one box: a Linux bridge and one network namespace per host (iproute2), each
host running the commands compose.yaml's services run, with a var/ folder of its own (no shared
filesystem), all reaching PostgreSQL, Redis and the S3 server on the bridge's address."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.integration.stack import BIN, ROOT, postgres_bin, server_answers, wait_until
from tests.processes import process_env

# Compose's `${NAME:-default}`; these values replace the defaults (small hosts on two cores).
COMPOSE_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")
COMPOSE_VALUES = {"WEB_CONCURRENCY": "1", "CPU_WORKER_CONCURRENCY": "1"}
WEB_PORT = 8000  # compose's web service listens here, on every address of its host


def hosts_missing() -> str:
    """Why hosts cannot be built here ('' when they can)."""
    if os.geteuid() != 0:
        return "network namespaces need root (CAP_NET_ADMIN)"
    for program in ("ip", "haproxy", "redis-server", "runuser"):
        if not shutil.which(program):
            return f"{program} is not installed"
    if postgres_bin() is None:
        return "PostgreSQL's server binaries are not installed"
    return ""


def compose_command(service: str, values: dict[str, str] | None = None) -> list[str]:
    """The command compose.yaml runs for `service`, its variables set from `values`, then
    COMPOSE_VALUES, then compose's own defaults."""
    spec = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"][service]
    command = spec["command"]
    parts = shlex.split(command) if isinstance(command, str) else [str(part) for part in command]
    known = {**COMPOSE_VALUES, **(values or {})}
    return [COMPOSE_VARIABLE.sub(lambda m: known.get(m[1], m[2] or ""), part) for part in parts]


def compose_healthcheck(service: str) -> str:
    """The shell command of `service`'s CMD-SHELL health check in compose.yaml."""
    spec = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"][service]
    kind, command = spec["healthcheck"]["test"]
    assert kind == "CMD-SHELL", spec["healthcheck"]
    return command.replace("$$", "$")  # compose's escape for a literal $


def dockerfile_command(instruction: str, dockerfile: str = "Dockerfile") -> list[str]:
    """The exec-form command of `instruction` (CMD, or HEALTHCHECK's CMD) in `dockerfile`."""
    text = (ROOT / dockerfile).read_text().replace("\\\n", " ")
    (line,) = [line for line in text.splitlines() if line.startswith(instruction + " ")]
    return json.loads(line[line.index("CMD [") + 4 :])


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


@dataclass
class Network:
    """A bridge `nb<suffix>` with address `<prefix>.1/24` in the root namespace; each host a
    namespace `nb-<suffix>-<name>` joined to it by a veth pair. The suffix is random, so parallel
    runs and leftovers do not collide; the /24 is taken from 10.231.0.0/16, not one in use."""

    suffix: str = field(default_factory=lambda: secrets.token_hex(3))
    prefix: str = ""
    namespaces: dict[str, str] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)

    @property
    def bridge(self) -> str:
        return f"nb{self.suffix}"

    @property
    def address(self) -> str:
        return f"{self.prefix}.1"

    def create(self) -> None:
        routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
        free = [n for n in range(256) if f"10.231.{n}." not in routes]
        self.prefix = f"10.231.{free[int(self.suffix, 16) % len(free)]}"
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.address}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    def host_add(self, name: str) -> str:
        """A namespace for host `name`, on the bridge; its address."""
        namespace = f"nb-{self.suffix}-{name}"
        index = len(self.namespaces) + 1
        outer, inner = f"nb{self.suffix}h{index}", f"nb{self.suffix}n{index}"
        address = f"{self.prefix}.{10 + index}"
        _ip("netns", "add", namespace)
        self.namespaces[name] = namespace
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner, "netns", namespace)
        _ip("link", "set", outer, "master", self.bridge, "up")
        for args in (("addr", "add", f"{address}/24", "dev", inner), ("link", "set", inner, "up"),
                     ("link", "set", "lo", "up")):  # fmt: skip
            _ip("-n", namespace, *args)
        self.addresses[name] = address
        return address

    def destroy(self) -> None:
        """Every namespace (its veth ends go with it) and the bridge; what is already gone is
        skipped."""
        for namespace in self.namespaces.values():
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=20)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, timeout=20)


@dataclass(kw_only=True)
class Host:
    """One machine of the deployment: a namespace, an address, a var/ folder of its own and the
    environment every deployment host gets (`settings`), its processes by name."""

    name: str
    namespace: str
    address: str
    var_dir: Path
    settings: dict[str, str]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return process_env(
            NANOBANANA_VAR_DIR=str(self.var_dir),
            MEDIA_ROOT=str(self.var_dir / "media"),
            PYTHONUNBUFFERED="1",
            # As in a container: the programs on PATH, HOSTNAME set (health checks use both).
            PATH=f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            HOSTNAME=socket.gethostname(),
            **self.settings,
        )

    def _argv(self, command: list[str]) -> list[str]:
        program = sys.executable if command[0] == "python" else str(BIN / command[0])
        return ["ip", "netns", "exec", self.namespace, program, *command[1:]]

    def run(self, command: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
        """A one-shot command on this host (compose's migrate, a health check)."""
        return subprocess.run(
            self._argv(command), cwd=ROOT, env=self.env, capture_output=True, text=True,
            timeout=180, check=check,
        )  # fmt: skip

    def shell(self, script: str) -> subprocess.CompletedProcess:
        """`sh -c script` on this host, as compose runs a CMD-SHELL health check."""
        return subprocess.run(
            ["ip", "netns", "exec", self.namespace, "sh", "-c", script], cwd=ROOT, env=self.env,
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    def spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        """A long-running `command` as process `name`; it prints to var/<name>.out. A process
        group of its own (`ip netns exec` execs the program): a kill takes its children along."""
        with (self.var_dir / f"{name}.out").open("ab") as log:
            process = subprocess.Popen(
                self._argv(command), cwd=ROOT, env=self.env, start_new_session=True,
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        path = self.var_dir / f"{name}.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def web_start(self) -> None:
        self.spawn("web", compose_command("web"))
        url = f"http://{self.address}:{WEB_PORT}/healthz"
        wait_until(lambda: server_answers(url), 60, f"uvicorn on {self.name}")

    def worker_start(self, service: str) -> None:
        self.spawn("worker", compose_command(service))
        ready = lambda: "ready." in self.log("worker")  # noqa: E731
        wait_until(ready, 120, f"the worker on {self.name}", every=0.3)

    def kill(self) -> None:
        """The host dies: every process of it at once, no goodbye to anyone."""
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()  # the worker's warm shutdown, uvicorn's graceful one
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=20)
        self.kill()
