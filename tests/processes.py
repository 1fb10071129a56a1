"""What a test's child processes (servers, workers) are given: importable without Django."""

from __future__ import annotations

import os


def process_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess of the app: this one without the suite's settings and
    service URLs (the child gets only what `extra` names), on the base settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_"))
    }
    return {**env, "DJANGO_SETTINGS_MODULE": "config.settings.base", **extra}
