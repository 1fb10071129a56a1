"""The TypeScript SDK (sdk/js, `nanobanana-js`) against the real stack: npm builds it, then each
of its node:test files runs with the server's URL and keys of its own in the environment."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.integration.stack import ROOT
from tests.sdk.conftest import Stack, api_key_issue

pytestmark = pytest.mark.integration

SDK = ROOT / "sdk" / "js"
TESTS = SDK / "test"
NODE_MIN_MAJOR = 18

# The keys each test file gets, as NANOBANANA_TEST_KEY_<NAME>: (plan, credits). Every key is an
# account of its own, so one file's per-minute window never limits another's (Free 2/min,
# Pro 5/min, Max 10/min: billing/migrations/0002_seed_plans.py).
KEYS: dict[str, dict[str, tuple[str, int]]] = {
    "unit.test.mjs": {},
    "operations.test.mjs": {"OPS": ("max", 0)},
    "errors.test.mjs": {"ERRORS": ("pro", 1000), "ZERO": ("pro", 0), "FREE_UPLOAD": ("free", 50)},
    "retries.test.mjs": {"FREE_RATE": ("free", 50), "RETRY": ("pro", 1000)},
    "wait.test.mjs": {"WAIT": ("pro", 1000)},
    "webhooks.test.mjs": {"HOOKS": ("pro", 1000)},
    "snippet.test.mjs": {
        "SNIPPET": ("max", 0),
        "SNIPPET_BUN": ("max", 0),
        "SNIPPET_DENO": ("max", 0),
    },
    "require.test.cjs": {"REQUIRE": ("pro", 1000)},
}


def _skip_or_fail(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI must run the JS SDK's tests)")
    pytest.skip(reason)


def _run(command: list[str], *, timeout: float, env: dict[str, str] | None = None) -> str:
    """Runs `command` in sdk/js; fails the test with its output when it exits non-zero."""
    try:
        done = subprocess.run(
            command, cwd=SDK, env=env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired as expired:
        output = (expired.stdout or b"").decode(errors="replace")[-8000:]
        pytest.fail(f"{' '.join(command)} ran past {timeout:.0f} s:\n{output}")
    output = done.stdout + done.stderr
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command)} exited {done.returncode}:\n{output[-12000:]}")
    return output


def _node_modules_stale() -> bool:
    """Whether `npm ci` must run: no node_modules, or one older than package-lock.json."""
    installed = SDK / "node_modules" / ".package-lock.json"
    lock = SDK / "package-lock.json"
    return not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime


@pytest.fixture(scope="module")
def built_sdk() -> Path:
    """sdk/js installed (`npm ci`, only when needed) and built (`npm run build`)."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            _skip_or_fail(f"{tool} is not installed: the JS SDK needs Node >= 18 and npm")
    version = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
    major = int(re.match(r"v(\d+)", version.stdout.strip()).group(1))
    if major < NODE_MIN_MAJOR:
        _skip_or_fail(f"node {version.stdout.strip()} is too old: the JS SDK needs Node >= 18")
    if _node_modules_stale():
        _run(["npm", "ci", "--no-audit", "--no-fund"], timeout=600)
    _run(["npm", "run", "build"], timeout=600)
    return SDK


def test_every_node_test_file_has_its_keys() -> None:
    files = {path.name for path in TESTS.glob("*.test.*js")}
    assert files == set(KEYS), "add the new file to KEYS (or remove the stale entry)"


@pytest.mark.parametrize("test_file", list(KEYS))
def test_js_sdk(test_file: str, stack: Stack, built_sdk: Path) -> None:
    keys = {
        f"NANOBANANA_TEST_KEY_{name}": api_key_issue(stack, plan=plan, credits=credits)
        for name, (plan, credits) in KEYS[test_file].items()
    }
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NANOBANANA_")},
        "NANOBANANA_TEST_BASE_URL": stack.base_url,
        # errors.test.mjs makes the worker's result writes fail there for one test.
        "NANOBANANA_TEST_RESULTS_DIR": str(stack.results_dir),
        **keys,
    }
    output = _run(
        ["node", "--test", "--test-reporter=spec", f"test/{test_file}"], timeout=540, env=env
    )
    # The spec reporter's closing counts: "\u2139 pass 9", "\u2139 fail 0", "\u2139 skipped 0"...
    summary = dict(re.findall(r"\u2139 (\w+) (\d+)", output))
    assert int(summary.get("pass", 0)) > 0, output
    assert summary.get("fail") == "0", output
    # A skipped suite is not in the counts: its reason is in the output.
    assert summary.get("skipped") == "0" and "no live server" not in output, (
        f"a live test skipped:\n{output}"
    )
