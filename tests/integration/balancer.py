"""A real load balancer for the tests and benchmarks: Debian's HAProxy as a child process,
round-robin over HTTP backends it health-checks on /healthz, with its counters read back from
its stats socket (so a test can prove that requests spread)."""

from __future__ import annotations

import csv
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.stack import free_port, process_stop, server_answers, wait_until

# A killed backend is out after two failed checks half a second apart (it refuses connections at
# once); a busy one has 5 s to answer its check (`timeout check`), so load alone never takes it
# out. A request that finds a backend refusing connections is retried on another (redispatch).
CONFIG = """\
global
    stats socket {socket} mode 600 level admin
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout check 5s
    retries 3
    option redispatch
frontend web
    bind {bind_host}:{port}
    default_backend web
backend web
    balance roundrobin
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host localhost
{servers}
"""


def haproxy_missing() -> str:
    """Why a Balancer cannot run here ('' when it can)."""
    return "" if shutil.which("haproxy") else "haproxy is not installed (apt-get install haproxy)"


@dataclass
class Balancer:
    """HAProxy on `bind_host`:`port` in front of `backends` (host, port); backend `i` is named
    `web<i + 1>` in its counters."""

    backends: list[tuple[str, int]]
    bind_host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="nb-haproxy-")))
    process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.bind_host}:{self.port}"

    @property
    def socket_path(self) -> Path:
        return self.folder / "stats.sock"

    def start(self) -> None:
        servers = "\n".join(
            f"    server web{index} {host}:{port} check inter 500ms fall 2 rise 1"
            for index, (host, port) in enumerate(self.backends, start=1)
        )
        config = self.folder / "haproxy.cfg"
        config.write_text(
            CONFIG.format(
                socket=self.socket_path, bind_host=self.bind_host, port=self.port, servers=servers
            )
        )
        with (self.folder / "haproxy.out").open("ab") as log:
            # -db: in the foreground, a child of ours that dies with stop().
            self.process = subprocess.Popen(
                ["haproxy", "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        up = lambda: self.process.poll() is not None or server_answers(self.base_url + "/healthz")  # noqa: E731
        wait_until(up, 20, "haproxy")
        if self.process.poll() is not None:
            raise RuntimeError(f"haproxy exited: {self.log_tail()}")

    def log_tail(self) -> str:
        path = self.folder / "haproxy.out"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def _stats(self) -> list[dict[str, str]]:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(str(self.socket_path))
            sock.sendall(b"show stat\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        text = b"".join(chunks).decode().removeprefix("# ")
        return [row for row in csv.DictReader(text.splitlines()) if row.get("pxname") == "web"]

    def requests_per_backend(self) -> dict[str, int]:
        """HTTP requests each backend server was sent so far, by name (web1, web2, ...)."""
        return {
            row["svname"]: int(row.get("req_tot") or row["stot"])
            for row in self._stats()
            if row["svname"] not in {"FRONTEND", "BACKEND"}
        }

    def servers_up(self) -> set[str]:
        """The backend servers whose health checks pass now."""
        return {
            row["svname"]
            for row in self._stats()
            if row["svname"] not in {"FRONTEND", "BACKEND"} and row["status"].startswith("UP")
        }

    def stop(self) -> None:
        process_stop(self.process)
        shutil.rmtree(self.folder, ignore_errors=True)
