"""Bench-only settings (bench/api.py): the product's, plus a bare DRF view at /v1/bench-bare."""

from config.settings.base import *  # noqa: F403

ROOT_URLCONF = "bench.api_urls"
