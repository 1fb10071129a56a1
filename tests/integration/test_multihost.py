"""Several hosts, one box: two web hosts behind HAProxy, a CPU worker host and a GPU-queue worker
host, each a network namespace with its own disk, sharing PostgreSQL, Redis and S3 (hosts.py).
Each host runs the command compose.yaml gives its service. The test process is the client."""

from __future__ import annotations

import base64
import contextlib
import io
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from PIL import Image

from tests.conftest import IN_CI
from tests.integration.balancer import Balancer
from tests.integration.hosts import (
    WEB_PORT,
    Host,
    Network,
    compose_command,
    compose_healthcheck,
    dockerfile_command,
    hosts_missing,
)
from tests.integration.s3 import MotoServer, moto_missing
from tests.integration.stack import FINISHED, PostgresCluster, RedisServer, wait_until

pytestmark = pytest.mark.integration
WEB_HOSTS = ("web1", "web2")


@dataclass
class Deployment:
    network: Network
    hosts: dict[str, Host]
    balancer: Balancer
    postgres: PostgresCluster
    moto: MotoServer
    bucket: str

    def url(self, host: str) -> str:
        """A web host's own address, past the balancer."""
        return f"http://{self.hosts[host].address}:{WEB_PORT}"

    def key(self, plan: str, credits: int = 1000) -> str:
        email = f"{uuid.uuid4().hex[:10]}@example.com"
        out = self.hosts["wcpu"].run(
            ["python", "manage.py", "issue_api_key", "--email", email, "--plan", plan,
             "--credits", str(credits)]
        ).stdout  # fmt: skip
        return out.strip().splitlines()[-1]

    def task_row(self, public_id: str) -> tuple[str, str]:
        """The task's queue and the Celery message that claimed it, from the shared database."""
        with psycopg.connect(self.postgres.url()) as conn:
            row = conn.execute(
                "SELECT queue, claimed_by FROM imaging_task WHERE public_id = %s", (public_id,)
            ).fetchone()
        return row

    def logs(self) -> str:
        parts = [f"--- {name} {process}\n{host.log(process)[-3000:]}"
                 for name, host in self.hosts.items() for process in host.processes]  # fmt: skip
        return "\n".join([*parts, "--- haproxy", self.balancer.log_tail()])


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    if missing := hosts_missing() or moto_missing():
        if IN_CI:
            pytest.fail(f"{missing}: CI runs the multi-host test")
        pytest.skip(missing)
    with contextlib.ExitStack() as cleanup:
        network = Network()
        cleanup.callback(network.destroy)
        network.create()
        services = network.address
        postgres = PostgresCluster(host=services)
        cleanup.callback(postgres.stop)
        postgres.start()
        redis = RedisServer(host=services)
        cleanup.callback(redis.kill)
        redis.start()
        moto = MotoServer(log=tmp_path_factory.mktemp("moto") / "moto.log", host=services,
                          listen=services)  # fmt: skip
        cleanup.callback(moto.stop)
        moto.start()
        bucket = f"nb-{uuid.uuid4().hex[:12]}"
        moto.bucket_create(bucket)

        addresses = {name: network.host_add(name) for name in (*WEB_HOSTS, "wcpu", "wgpu")}
        settings = {
            "DATABASE_URL": postgres.url(),
            "REDIS_URL": redis.url(),
            **moto.app_settings(bucket),
            "DJANGO_SECRET_KEY": uuid.uuid4().hex * 2,  # one key for the deployment
            "DJANGO_ALLOWED_HOSTS": ",".join(["localhost", "127.0.0.1", *addresses.values()]),
            "NANOBANANA_FETCH_ALLOW_HOSTS": "127.0.0.1",
        }
        hosts = {
            name: Host(
                name=name,
                namespace=network.namespaces[name],
                address=address,
                var_dir=tmp_path_factory.mktemp(name),
                settings=settings,
            )
            for name, address in addresses.items()
        }
        for host in hosts.values():
            cleanup.callback(host.stop)
        hosts["wcpu"].run(compose_command("migrate"))
        with psycopg.connect(postgres.url()) as conn:
            # The kill test's client submits faster than a real plan allows.
            conn.execute(
                "UPDATE billing_plan SET requests_per_minute = 100000, "
                "requests_per_day = 1000000, max_concurrent_tasks = 100 WHERE code = 'max'"
            )
        hosts["wcpu"].worker_start("worker-cpu")
        hosts["wgpu"].worker_start("worker-gpu")
        beat = compose_command("beat")
        beat[beat.index("--schedule") + 1] = str(hosts["wcpu"].var_dir / "celerybeat-schedule")
        hosts["wcpu"].spawn("beat", beat)
        for name in WEB_HOSTS:
            hosts[name].web_start()
        balancer = Balancer([(hosts[name].address, WEB_PORT) for name in WEB_HOSTS])
        cleanup.callback(balancer.stop)
        balancer.start()
        wait_until(lambda: balancer.servers_up() == {"web1", "web2"}, 20, "both web hosts up")
        yield Deployment(network, hosts, balancer, postgres, moto, bucket)


def data_url(color: tuple[int, int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), color).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def client(base_url: str, key: str, **headers: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}", **headers}
    return httpx.Client(base_url=base_url, headers=headers, timeout=60, trust_env=False)


ASYNC = {"Prefer": "respond-async"}
ENHANCE = "/v1/enhance"


def finished(api: httpx.Client, task_id: str, timeout: float = 90) -> dict:
    task: dict = {}

    def done() -> bool:
        nonlocal task
        task = api.get(f"/v1/task/{task_id}").json()
        return task.get("status") in FINISHED

    wait_until(done, timeout, f"task {task_id}", every=0.3)
    return task


def test_requests_spread_over_both_web_hosts(deployment: Deployment) -> None:
    before = deployment.balancer.requests_per_backend()
    with client(deployment.balancer.base_url, deployment.key("pro")) as api:
        for _ in range(10):
            assert api.get("/v1/account").status_code == 200
    after = deployment.balancer.requests_per_backend()
    sent = {name: after[name] - before.get(name, 0) for name in ("web1", "web2")}
    assert sum(sent.values()) == 10 and min(sent.values()) >= 4, sent  # round robin


def test_a_task_submitted_on_one_host_runs_on_a_worker_host_and_downloads_via_the_other(
    deployment: Deployment,
) -> None:
    key = deployment.key("max")
    submitted = {}
    with client(deployment.url("web1"), key, **ASYNC) as web1:
        for worker, path, body in (
            ("wcpu", ENHANCE, {"image_url": data_url((40, 90, 200))}),
            ("wgpu", "/v1/text-to-image", {"prompt": "a red fox", "width": 64, "height": 64}),
        ):
            answer = web1.post(path, json=body)
            assert answer.status_code == 202, answer.text
            submitted[worker] = answer.json()["task_id"]
    with client(deployment.url("web2"), key) as web2:
        for worker, task_id in submitted.items():
            task = finished(web2, task_id, timeout=120)
            assert task["status"] == "completed", (task, deployment.logs())
            queue, message = deployment.task_row(task_id)
            assert queue == {"wcpu": "cpu", "wgpu": "gpu"}[worker]
            ran_here = f"imaging.run[{message}] succeeded"
            assert ran_here in deployment.hosts[worker].log("worker")
            other = {"wcpu": "wgpu", "wgpu": "wcpu"}[worker]
            assert ran_here not in deployment.hosts[other].log("worker")
            link = task["result"]["image_url"]
            assert link.startswith(f"{deployment.moto.url}/{deployment.bucket}/results/"), link
            download = httpx.get(link, trust_env=False)
            assert download.status_code == 200 and Image.open(io.BytesIO(download.content))
    # No shared filesystem: nothing of the results landed on any host's disk.
    media = [path for host in deployment.hosts.values()
             for path in Path(host.var_dir, "media").rglob("*") if path.is_file()]  # fmt: skip
    assert media == []


@pytest.mark.parametrize("host", WEB_HOSTS)
def test_a_waiting_request_is_answered_on_either_host(deployment: Deployment, host: str) -> None:
    with client(deployment.url(host), deployment.key("pro")) as api:
        answer = api.post(ENHANCE, json={"image_url": data_url((200, 60, 60))})
    assert answer.status_code == 200, answer.text
    assert answer.json()["image_url"].startswith(deployment.moto.url)


def test_rate_limits_hold_across_web_hosts(deployment: Deployment) -> None:
    key = deployment.key("basic")  # 3 requests a minute
    answers = []
    for host in ("web1", "web2", "web1", "web2"):
        with client(deployment.url(host), key, **ASYNC) as api:
            answers.append(api.post(ENHANCE, json={"image_url": data_url((9, 9, 9))}))
    assert [answer.status_code for answer in answers] == [202, 202, 202, 429]
    assert answers[-1].json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert int(answers[-1].headers["Retry-After"]) > 0


def test_an_idempotency_key_holds_across_web_hosts(deployment: Deployment) -> None:
    key = deployment.key("pro", credits=100)
    body = {"image_url": data_url((1, 200, 1))}
    headers = {**ASYNC, "Idempotency-Key": f"retry-{uuid.uuid4().hex[:8]}"}
    with client(deployment.url("web1"), key, **headers) as web1:
        first = web1.post(ENHANCE, json=body)
    with client(deployment.url("web2"), key, **headers) as web2:
        again = web2.post(ENHANCE, json=body)
        balance = web2.get("/v1/account").json()["credits"]["balance"]
    assert first.status_code == 202 and again.status_code == 202, (first.text, again.text)
    assert again.json()["task_id"] == first.json()["task_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert balance == 100 - first.json()["credits_used"]  # charged once


def test_the_images_commands_and_health_checks_are_the_ones_the_hosts_run(
    deployment: Deployment,
) -> None:
    # The image's default command is the web service's (compose only sets the worker count).
    assert dockerfile_command("CMD") == compose_command("web", {"WEB_CONCURRENCY": "2"})
    for name in WEB_HOSTS:
        check = deployment.hosts[name].run(dockerfile_command("HEALTHCHECK"), check=False)
        assert check.returncode == 0, check.stderr
    for name, service in (("wcpu", "worker-cpu"), ("wgpu", "worker-gpu")):
        check = deployment.hosts[name].shell(compose_healthcheck(service))
        assert check.returncode == 0 and "pong" in check.stdout, (check.stdout, check.stderr)


def test_killing_a_web_host_loses_no_accepted_task(deployment: Deployment) -> None:
    key = deployment.key("max")
    accepted: list[str] = []
    answered_after_kill: list[int] = []
    killed = threading.Event()

    def submit() -> None:
        with client(deployment.balancer.base_url, key, **ASYNC) as api:
            # Until 20 requests after the kill were answered, within 60 s in all.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(answered_after_kill) < 20:
                try:
                    answer = api.post(ENHANCE, json={"image_url": data_url((5, 5, 250))})
                except httpx.HTTPError:
                    time.sleep(0.05)
                    continue  # cut mid-request: never accepted
                if answer.status_code == 202:
                    accepted.append(answer.json()["task_id"])
                if killed.is_set():
                    answered_after_kill.append(answer.status_code)
                time.sleep(0.05)

    submitter = threading.Thread(target=submit)
    submitter.start()
    try:
        wait_until(lambda: len(accepted) >= 4, 20, "tasks accepted before the kill")
        deployment.hosts["web1"].kill()
        killed.set()
    finally:
        submitter.join()
    # The balancer's health checks took the dead host out.
    wait_until(lambda: deployment.balancer.servers_up() == {"web2"}, 5, "web1 marked down")
    assert answered_after_kill.count(202) >= 18, answered_after_kill  # the balancer carries on
    with client(deployment.balancer.base_url, key) as api:
        tasks = [finished(api, task_id, timeout=120) for task_id in accepted]
    assert [task["status"] for task in tasks] == ["completed"] * len(accepted)
