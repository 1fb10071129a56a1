"""Fast, deterministic test settings on top of base (cookiecutter-django's test.py)."""

import tempfile
from pathlib import Path

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": STORAGES["default"],  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if not REDIS_URL:  # noqa: F405
    # Without Redis, an in-memory cache: tests never share rate-limit state with a `make run`.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Results written by tests go to a throw-away folder, never into var/media.
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="nanobanana-test-media-"))

if not REDIS_URL:  # noqa: F405
    # Unit tests publish to an in-process broker; integration tests start real workers on theirs.
    CELERY_BROKER_URL = "memory://"

# Each test has its own database state: the web process recounts the GPU queue on every submit.
IMAGING_QUEUE_DEPTH_RECOUNT_SECONDS = 0.0
