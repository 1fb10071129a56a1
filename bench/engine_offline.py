"""CPU time of the offline imaging operations at 512² and 1024², each against a baseline measured
in the same run: the bare MediaPipe call for background removal (our overhead: the person gate,
cleaning, GrabCut-band + guided-filter edges), a plain Lanczos resize for upscaling, and the bare
OpenCV call for denoise. Run: `.venv/bin/python bench/engine_offline.py [--quick] [--repeat N]
[--sizes N ...]`; `--quick`: 128² only, best of 1 (seconds)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.summary import Figure, figures_write, summary_argument
from imaging.engine.offline_background import background_remover, remove_background
from imaging.engine.offline_enhance import enhance, image_enhancer
from imaging.engine.types import EnhanceRequest, RemoveBackgroundRequest


def cpu_seconds(call: Callable[[], object], repeat: int) -> float:
    """Best of `repeat` process-CPU times (all threads), after one warm-up call."""
    call()
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        call()
        best = min(best, time.process_time() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="128² only, best of 1")
    parser.add_argument("--repeat", type=int, default=None, help="best of N (2)")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="sides (512 1024)")
    summary_argument(parser)
    args = parser.parse_args()
    args.repeat = args.repeat or (1 if args.quick else 2)
    args.sizes = args.sizes or ([128] if args.quick else [512, 1024])

    remover = background_remover()
    remover.load()
    image_enhancer().load()
    rows: list[tuple[str, int, float, str, float]] = []
    for side in args.sizes:
        photo = Image.fromarray(data.astronaut()).resize((side, side), Image.Resampling.LANCZOS)
        rgb = np.asarray(photo)
        noisy = np.clip(rgb + np.random.default_rng(0).normal(0, 15, rgb.shape), 0, 255)
        noisy_uint8 = noisy.astype(np.uint8)
        noisy_image = Image.fromarray(noisy_uint8)
        person = remover.segmenter.person
        cases = [
            (
                "remove_background (edge_smooth)",
                lambda photo=photo: remove_background(RemoveBackgroundRequest(photo)),
                "bare MediaPipe selfie seg.",
                lambda rgb=rgb, person=person: person.person_mask(rgb),
            ),
            (
                "remove_background (hard edges)",
                lambda photo=photo: remove_background(
                    RemoveBackgroundRequest(photo, edge_smooth=False)
                ),
                "bare MediaPipe selfie seg.",
                lambda rgb=rgb, person=person: person.person_mask(rgb),
            ),
            (
                "enhance upscale x2",
                lambda photo=photo: enhance(EnhanceRequest(photo, "upscale", 2)),
                "Lanczos resize x2",
                lambda photo=photo, side=side: photo.resize(
                    (2 * side, 2 * side), Image.Resampling.LANCZOS
                ),
            ),
            (
                "enhance denoise",
                lambda image=noisy_image: enhance(EnhanceRequest(image, "denoise")),
                "bare fastNlMeansDenoisingColored",
                lambda noisy=noisy_uint8: cv2.fastNlMeansDenoisingColored(
                    noisy, None, 10, 8, 7, 21
                ),
            ),
            (
                "enhance color",
                lambda photo=photo: enhance(EnhanceRequest(photo, "color")),
                "bare CLAHE on L",
                lambda rgb=rgb: cv2.createCLAHE(1.5, (8, 8)).apply(
                    cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)[..., 0]
                ),
            ),
        ]
        for name, ours, baseline_name, baseline in cases:
            rows.append(
                (
                    name,
                    side,
                    cpu_seconds(ours, args.repeat),
                    baseline_name,
                    cpu_seconds(baseline, args.repeat),
                )
            )
        if side <= 512:  # ~3.5 min for one 512² x4plus run on one core: measured at 128² only
            small = photo.resize((128, 128))
            x4plus = image_enhancer("x4plus")
            x4plus_request = EnhanceRequest(small, "upscale", 4)
            rows.append(
                (
                    "upscale x4 x4plus (128² in)",
                    128,
                    cpu_seconds(lambda r=x4plus_request, run=x4plus: run(r), 1),
                    "Lanczos resize x4",
                    cpu_seconds(lambda small=small: small.resize((512, 512)), args.repeat),
                )
            )

    print(f"{'operation':34} {'side':>5} {'ours s':>8}  {'baseline':34} {'base s':>8} {'ratio':>7}")
    for name, side, ours, baseline_name, base in rows:
        ratio = ours / base if base > 0 else float("inf")
        print(f"{name:34} {side:5d} {ours:8.3f}  {baseline_name:34} {base:8.3f} {ratio:6.1f}x")
    # No goals: what an operation may cost beside a bare call is a choice made from this table.
    figures_write(
        args.summary,
        [
            Figure("engine", f"{name} {side}², CPU s", ours, base, baseline_name, "", None)
            for name, side, ours, baseline_name, base in rows
        ],
    )


if __name__ == "__main__":
    main()
