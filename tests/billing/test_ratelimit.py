"""Rate limits: exact sliding windows per plan, atomic in Redis across processes, IETF headers."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.models import Account
from accounts.services import api_key_issue
from billing.ratelimit import Quota, window_admit
from billing.selectors import plan_get
from billing.services import subscription_set_plan
from tests.conftest import require_service

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["local", "redis"])
def backend(request: pytest.FixtureRequest):
    """Run a test against the in-process windows and against Redis."""
    url = "" if request.param == "local" else require_service("REDIS_URL", "Redis rate limits")
    with override_settings(REDIS_URL=url):
        yield request.param


def test_a_window_admits_its_limit_then_refuses(backend: str) -> None:
    quota = (Quota("minute", 3, 60),)
    decisions = [window_admit(key=f"k-{backend}", quotas=quota) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.states[0].remaining for d in decisions] == [2, 1, 0, 0]
    assert 55 <= decisions[3].retry_after <= 60


def test_the_window_slides(backend: str) -> None:
    quota = (Quota("second", 2, 1),)
    assert all(window_admit(key=f"s-{backend}", quotas=quota).allowed for _ in range(2))
    assert not window_admit(key=f"s-{backend}", quotas=quota).allowed
    time.sleep(1.05)
    assert window_admit(key=f"s-{backend}", quotas=quota).allowed


def test_a_refused_request_uses_no_quota(backend: str) -> None:
    quotas = (Quota("minute", 5, 60), Quota("day", 2, 86400))
    assert [window_admit(key=f"d-{backend}", quotas=quotas).allowed for _ in range(3)] == [
        True,
        True,
        False,
    ]
    decision = window_admit(key=f"d-{backend}", quotas=quotas)
    assert decision.states[0].remaining == 3  # the day cap refused; the minute window kept room
    minute, day = decision.states
    assert decision.headers() == {
        "RateLimit-Policy": '"minute";q=5;w=60, "day";q=2;w=86400',
        "RateLimit": f'"minute";r=3;t={minute.reset}, "day";r=0;t={day.reset}',
    }


def test_two_processes_share_one_redis_window() -> None:
    url = require_service("REDIS_URL", "rate limits shared by web processes")
    script = (
        "import django, os; django.setup();"
        "from billing.ratelimit import Quota, window_admit;"
        "q = (Quota('minute', 7, 60),);"
        "print(sum(window_admit(key='shared', quotas=q).allowed for _ in range(10)))"
    )
    env = {"DJANGO_SETTINGS_MODULE": "config.settings.test", "REDIS_URL": url, "PATH": "/usr/bin"}
    procs = [
        subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE)
        for _ in range(2)
    ]
    admitted = [int(p.communicate(timeout=60)[0].decode().strip().splitlines()[-1]) for p in procs]
    assert sum(admitted) == 7


@pytest.mark.django_db
@pytest.mark.urls("tests.api.errors_urls")
class TestThroughTheApi:
    @pytest.fixture
    def basic_client(self, account: Account, backend: str) -> APIClient:
        subscription_set_plan(account=account, plan=plan_get(code="basic"))
        _key, raw = api_key_issue(account=account, name="rl")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client

    def test_the_fourth_post_in_a_minute_on_basic_is_429(self, basic_client: APIClient) -> None:
        statuses = [
            basic_client.post("/v1/_test/billable", {"n": i}, format="json").status_code
            for i in range(3)
        ]
        assert statuses == [200, 200, 200]
        response = basic_client.post("/v1/_test/billable", {"n": 4}, format="json")
        assert response.status_code == 429
        assert response.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
        assert 1 <= int(response["Retry-After"]) <= 60
        assert '"minute";r=0' in response["RateLimit"]

    def test_reads_have_their_own_limit(self, basic_client: APIClient) -> None:
        for i in range(3):
            basic_client.post("/v1/_test/billable", {"n": i}, format="json")
        response = basic_client.get("/v1/account")
        assert response.status_code == 200
        assert response["RateLimit-Policy"] == '"reads";q=300;w=60'

    def test_every_response_carries_the_headers(self, basic_client: APIClient) -> None:
        response = basic_client.post("/v1/_test/billable", {}, format="json")
        assert response["RateLimit-Policy"] == '"minute";q=3;w=60, "day";q=300;w=86400'
        assert response["RateLimit"].startswith('"minute";r=2;t=')
