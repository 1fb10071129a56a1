"""The engine benchmark (bench/engine.py: engine_offline.py, then engine_diffusion.py) in its
quick mode: both halves run on the demo and offline models, and every operation has its row, with
CPU seconds for ours and, where the bench has one, the baseline (ratios are the report's)."""

from __future__ import annotations

import re

import pytest

from tests.integration.stack import bench_quick

pytestmark = pytest.mark.integration

OFFLINE = (  # operation, baseline
    ("remove_background (edge_smooth)", "bare MediaPipe selfie seg."),
    ("remove_background (hard edges)", "bare MediaPipe selfie seg."),
    ("enhance upscale x2", "Lanczos resize x2"),
    ("enhance denoise", "bare fastNlMeansDenoisingColored"),
    ("enhance color", "bare CLAHE on L"),
    ("upscale x4 x4plus (128² in)", "Lanczos resize x4"),
)
DIFFUSION_WITH_BARE = ("text_to_image (2 steps)",)
DIFFUSION = (
    "image_edit (strength 0.8)",
    "image_edit + preserve_scene",
    "style_transfer",
    "batch_edit (4 images)",
)


def test_the_engine_benchmark_runs_and_has_every_operation() -> None:
    run = bench_quick("engine.py")
    offline = run.stdout[run.stdout.index("operation ") : run.stdout.index("torch ")]
    for name, baseline in OFFLINE:
        row = rf"^{re.escape(name)} +\d+ +([\d.]+)  {re.escape(baseline)} +([\d.]+) +([\d.]+|inf)x$"
        found = re.search(row, offline, re.M)
        assert found, name
        assert float(found.group(1)) > 0, name
    diffusion = run.stdout[run.stdout.index("torch ") :]
    for name in DIFFUSION_WITH_BARE:
        found = re.search(rf"^{re.escape(name)} +64 +([\d.]+) +([\d.]+) +[\d.]+ +[\d.]+$",
                          diffusion, re.M)  # fmt: skip
        assert found, name
        assert float(found.group(1)) > 0 and float(found.group(2)) > 0, name
    for name in DIFFUSION:
        found = re.search(rf"^{re.escape(name)} +64 +([\d.]+) *$", diffusion, re.M)
        assert found, name
        assert float(found.group(1)) > 0, name
