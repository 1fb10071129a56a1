"""In CI the suite runs on the real services, never on the embedded fallbacks."""

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from config.celery import app as celery_app
from tests.conftest import IN_CI, require_service

pytestmark = pytest.mark.django_db


@pytest.mark.skipif(not IN_CI, reason="only CI promises PostgreSQL")
def test_ci_uses_postgresql() -> None:
    assert connection.vendor == "postgresql"


def test_redis_backs_cache_and_broker_when_configured() -> None:
    url = require_service("REDIS_URL", "the Redis cache and broker")
    assert redis.Redis.from_url(url, socket_timeout=2).ping()
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    cache.set("probe", "値")
    assert cache.get("probe") == "値"
    assert celery_app.conf.broker_url == url
