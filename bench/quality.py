"""Benchmark: the quality of the offline imaging operations on real photos, each figure next to
a classical baseline measured in the same run, with the time per megapixel on this CPU.

Run: `.venv/bin/python bench/quality.py [--quick] [--strict] [--only SECTION ...]`
(sections: background, upscale, denoise, style). Prints one table: figure, ours, the baseline,
their difference (or ratio, for times), the goal and whether it is met.

- Background removal (`offline_background.remove_background`, the request's defaults): mask IoU
  and boundary F-measure (boundary pixels matched within 1 % of the image diagonal, Martin et
  al. 2004) against the truth of bench/quality_data.py (hand-drawn outlines of scikit-image
  photos, and cut-outs pasted onto other photos with a known alpha), persons and other
  subjects apart. Baseline: plain GrabCut from a centred rectangle (the middle 90 %), 5
  iterations, on the same image. Goals: IoU >= 0.90 on persons, >= 0.80 on other subjects;
  boundary F at least the baseline's.
- Upscale x2 / x4 (`offline_enhance.enhance`, Real-ESRGAN animevideov3; x4plus, about 80x
  slower on CPU, on two of the crops in the full mode only): native 256² crops
  bicubic-downscaled by the factor and upscaled back, PSNR and SSIM (Wang et al.: Gaussian
  window, sigma 1.5) on the BT.601 luma against the original, `factor` pixels shaved off each
  border. Baselines: PIL bicubic and Lanczos. Goal: at least the baseline (a GAN upscaler
  trades PSNR for sharpness; the table says where it loses).
- Denoise (`enhance`, enhancement_type denoise): RGB PSNR at Gaussian noise sigma 15 and 25
  (seed 0) against OpenCV's fastNlMeansDenoisingColored with its default parameters and a
  bilateral filter (d 9, sigma colour 75, sigma space 75, the OpenCV tutorial's settings);
  the noisy input's PSNR for reference. Goal: above each.
- Style transfer (`offline_style.style_transfer_offline`, strength 0.8): the content's structure
  kept (bench/quality_metrics.edge_ssim: SSIM of the blurred grey Sobel maps of content and
  result) and the colour moved toward the style (distance of the CIELAB per-channel mean and
  standard deviation to the style's: |mean - mean'| + |std - std'|). Baseline: Reinhard colour
  transfer in CIELAB at the same strength (`diffusion_compose.colour_transfer`). Goals: edge
  SSIM >= EDGE_SSIM_KEPT (0.40, the tests' threshold too); colour distance at most half the
  content's own distance to the style. Rows say "not available" when the engine
  has no `offline_style` module.

Timings are wall-clock on whatever else the machine runs; each operation is warmed up once
first. Exits 1 if a section crashes; with --strict also when a goal is missed. `--quick` (small
images, few samples, < 60 s) is what tests/integration/test_quality_bench.py runs."""

from __future__ import annotations

import argparse
import importlib
import math
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import cv2
import numpy as np
from PIL import Image
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.quality_data import (
    PLACEMENTS,
    LabelledImage,
    Placement,
    composites,
    labelled_masks,
    photo,
)
from bench.quality_metrics import EDGE_SSIM_KEPT, edge_ssim
from bench.summary import Figure, figures_write, summary_argument
from imaging.engine.diffusion_compose import colour_stats, colour_transfer
from imaging.engine.types import EnhanceRequest, RemoveBackgroundRequest, StyleTransferRequest

T = TypeVar("T")
Factor = Literal[2, 4]
FACTORS: tuple[Factor, ...] = (2, 4)
Crops = tuple[tuple[str, tuple[int, int, int, int]], ...]  # (photo, box in its pixels)
PIL_METHODS = {"bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}
SECTIONS = ("background", "upscale", "denoise", "style")
GOAL_IOU_PERSON = 0.90
GOAL_IOU_OTHER = 0.80
BOUNDARY_TOLERANCE = 0.01  # of the image diagonal
GRABCUT_MARGIN = 0.05  # the baseline's rectangle leaves this share of each side outside
GRABCUT_ITERATIONS = 5
NOISE_SIGMAS = (15, 25)
STYLE_STRENGTH = 0.8
GOAL_COLOUR_SHARE = 0.5  # of the content's own distance to the style


@dataclass(frozen=True)
class Row:
    figure: str
    ours: float | None
    baseline: float | None
    kind: str  # "higher" (quality, higher is better), "lower" (distance), "time" (s/MP)
    goal: str = ""
    met: bool | None = None
    digits: int = 3
    note: str = ""  # shown instead of the numbers when there are none

    def compared(self) -> str:
        if self.ours is None or self.baseline is None:
            return ""
        if self.kind == "time":
            return f"{self.ours / self.baseline:.2f}x" if self.baseline > 0 else "n/a"
        return f"{self.ours - self.baseline:+.{self.digits}f}"


@dataclass(frozen=True)
class Profile:
    """What a run measures: full (about 75 s on this 2-core machine) or quick (about 10 s)."""

    label_side: int | None  # labelled photos resized to this long side; None: as they are
    composite_size: tuple[int, int]
    placements: tuple[Placement, ...]
    upscale_crops: Crops
    x4plus_crops: Crops
    denoise_crops: Crops
    style_pairs: tuple[tuple[str, str], ...]
    style_side: int


# Native crops (boxes in the photo's pixels) with detail: SR is measured on real pixels, never
# on a resized copy.
FULL = Profile(
    label_side=None,
    composite_size=(512, 384),
    placements=PLACEMENTS,
    upscale_crops=(
        ("astronaut", (128, 16, 384, 272)),
        ("chelsea", (96, 24, 352, 280)),
        ("coffee", (160, 16, 416, 272)),
        ("rocket", (192, 120, 448, 376)),
        ("camera", (128, 56, 384, 312)),
    ),
    x4plus_crops=(("astronaut", (128, 16, 384, 272)), ("chelsea", (96, 24, 352, 280))),
    denoise_crops=(
        ("astronaut", (0, 0, 512, 512)),
        ("chelsea", (0, 0, 451, 300)),
        ("coffee", (0, 0, 600, 400)),
        ("rocket", (0, 0, 640, 427)),
    ),
    style_pairs=(
        ("astronaut", "immunohistochemistry"),
        ("chelsea", "hubble"),
        ("coffee", "rocket"),
        ("camera", "coffee"),
    ),
    style_side=384,
)
QUICK = Profile(
    label_side=192,
    composite_size=(192, 144),
    placements=(PLACEMENTS[0], PLACEMENTS[6]),
    upscale_crops=(("astronaut", (176, 40, 272, 136)),),
    x4plus_crops=(),
    denoise_crops=(("astronaut", (128, 16, 256, 144)),),
    style_pairs=(("astronaut", "immunohistochemistry"),),
    style_side=128,
)


def megapixels(image: Image.Image) -> float:
    return image.width * image.height / 1e6


def timed(call: Callable[..., T], *args: Any) -> tuple[T, float]:
    """`call(*args)` and the wall-clock seconds it took."""
    started = time.perf_counter()
    result = call(*args)
    return result, time.perf_counter() - started


def mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


# --- background removal ---------------------------------------------------------------------


def iou(predicted: np.ndarray, truth: np.ndarray) -> float:
    union = np.logical_or(predicted, truth).sum()
    return float(np.logical_and(predicted, truth).sum() / union) if union else 1.0


def boundary(mask: np.ndarray) -> np.ndarray:
    """The mask's inner boundary pixels; the image's own frame is not a boundary (OpenCV's
    erosion treats outside pixels as foreground)."""
    mask8 = mask.astype(np.uint8)
    return (mask8 - cv2.erode(mask8, np.ones((3, 3), np.uint8))) > 0


def boundary_f(predicted: np.ndarray, truth: np.ndarray) -> float:
    """F-measure of the boundaries: a boundary pixel counts as matched when the other mask has
    one within 1 % of the diagonal (the BSDS/DAVIS measure, with distance transforms)."""
    height, width = truth.shape
    tolerance = max(1.0, BOUNDARY_TOLERANCE * math.hypot(width, height))
    ours, true = boundary(predicted), boundary(truth)
    if not ours.any() or not true.any():
        return 1.0 if ours.any() == true.any() else 0.0

    def distance_to(edges: np.ndarray) -> np.ndarray:
        return cv2.distanceTransform((~edges).astype(np.uint8), cv2.DIST_L2, 5)

    precision = float((distance_to(true)[ours] <= tolerance).mean())
    recall = float((distance_to(ours)[true] <= tolerance).mean())
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def grabcut_centre(image: Image.Image) -> np.ndarray:
    """The baseline: OpenCV GrabCut initialised with the centred rectangle, nothing else."""
    bgr = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)
    height, width = bgr.shape[:2]
    x, y = round(GRABCUT_MARGIN * width), round(GRABCUT_MARGIN * height)
    rect = (x, y, width - 2 * x, height - 2 * y)
    labels = np.zeros((height, width), np.uint8)
    background_model = np.zeros((1, 65), np.float64)
    foreground_model = np.zeros((1, 65), np.float64)
    cv2.grabCut(
        bgr, labels, rect, background_model, foreground_model, GRABCUT_ITERATIONS,
        cv2.GC_INIT_WITH_RECT,
    )  # fmt: skip
    return np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD))


def background_rows(profile: Profile) -> tuple[list[Row], list[str]]:
    from imaging.engine.offline_background import background_remover, remove_background

    background_remover().load()
    remove_background(RemoveBackgroundRequest(photo("astronaut").resize((64, 64))))  # warm-up
    samples: list[LabelledImage] = [
        item.resized(profile.label_side) if profile.label_side else item
        for item in labelled_masks()
    ]
    samples += composites(profile.composite_size, profile.placements)
    scores: dict[tuple[bool, str], list[float]] = {}
    seconds = {"ours": 0.0, "baseline": 0.0}
    pixels = 0.0
    for sample in samples:
        request = RemoveBackgroundRequest(sample.image, return_mask=True)
        result, ours_s = timed(remove_background, request)
        ours = np.asarray(result.mask) > 127
        baseline, baseline_s = timed(grabcut_centre, sample.image)
        seconds["ours"] += ours_s
        seconds["baseline"] += baseline_s
        pixels += megapixels(sample.image)
        figures = {
            "ours IoU": iou(ours, sample.mask),
            "baseline IoU": iou(baseline, sample.mask),
            "ours F": boundary_f(ours, sample.mask),
            "baseline F": boundary_f(baseline, sample.mask),
        }
        for name, value in figures.items():
            scores.setdefault((sample.is_person, name), []).append(value)
        print(
            f"  {sample.name:<22} {'person' if sample.is_person else 'other':<6} "
            f"IoU {figures['ours IoU']:.3f} (GrabCut {figures['baseline IoU']:.3f})  "
            f"boundary F {figures['ours F']:.3f} ({figures['baseline F']:.3f})  "
            f"{ours_s:.2f} s ({baseline_s:.2f} s)",
            flush=True,
        )
    rows = []
    for is_person, label, goal in (
        (True, "persons", GOAL_IOU_PERSON),
        (False, "other", GOAL_IOU_OTHER),
    ):
        count = len(scores.get((is_person, "ours IoU"), []))
        ours_iou = mean(scores.get((is_person, "ours IoU"), []))
        ours_f = mean(scores.get((is_person, "ours F"), []))
        base_f = mean(scores.get((is_person, "baseline F"), []))
        rows += [
            Row(
                f"background: mask IoU, {label} (n={count}) (vs GrabCut)",
                ours_iou, mean(scores.get((is_person, "baseline IoU"), [])), "higher",
                f"≥ {goal:.2f}", ours_iou >= goal,
            ),
            Row(
                f"background: boundary F, {label} (n={count}) (vs GrabCut)",
                ours_f, base_f, "higher", "≥ baseline", ours_f >= base_f,
            ),
        ]  # fmt: skip
    rows.append(
        Row(
            "background: s / MP (vs GrabCut)",
            seconds["ours"] / pixels, seconds["baseline"] / pixels, "time", digits=2,
        )
    )  # fmt: skip
    return rows, []


# --- upscaling --------------------------------------------------------------------------------


def luma(image: Image.Image | np.ndarray) -> np.ndarray:
    """BT.601 Y (16-235) of an RGB image, as float64."""
    return rgb2ycbcr(np.asarray(image))[..., 0]


def sr_scores(result: Image.Image, original: Image.Image, factor: int) -> tuple[float, float]:
    """(PSNR dB, SSIM) on the luma, `factor` px shaved off each border."""
    ours, truth = luma(result), luma(original)
    if factor:
        ours, truth = ours[factor:-factor, factor:-factor], truth[factor:-factor, factor:-factor]
    psnr = peak_signal_noise_ratio(truth, ours, data_range=255)
    ssim = structural_similarity(
        truth, ours, data_range=255, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False,
    )  # fmt: skip
    return float(psnr), float(ssim)


def upscaled(small: Image.Image, factor: Factor, method: str) -> Image.Image:
    """`small` upscaled by PIL ("bicubic", "lanczos") or by the engine with that Real-ESRGAN
    variant."""
    from imaging.engine.offline_enhance import enhance

    if method in PIL_METHODS:
        return small.resize((small.width * factor, small.height * factor), PIL_METHODS[method])
    return enhance(EnhanceRequest(small, "upscale", factor), variant=method).images[0]


def upscale_set(
    crops: Crops, factor: Factor, variants: tuple[str, ...]
) -> dict[str, dict[str, list[float]]]:
    """Per method (each Real-ESRGAN variant, "bicubic", "lanczos"): lists of PSNR, SSIM,
    seconds and input megapixels over the crops."""
    found: dict[str, dict[str, list[float]]] = {}
    for name, box in crops:
        original = photo(name).crop(box)
        small = original.resize(
            (original.width // factor, original.height // factor), Image.Resampling.BICUBIC
        )
        for method in (*variants, "bicubic", "lanczos"):
            result, seconds = timed(upscaled, small, factor, method)
            psnr, ssim = sr_scores(result, original, factor)
            entry = found.setdefault(method, {"psnr": [], "ssim": [], "s": [], "mp": []})
            entry["psnr"].append(psnr)
            entry["ssim"].append(ssim)
            entry["s"].append(seconds)
            entry["mp"].append(megapixels(small))
    return found


def upscaler_warm(variant: str, factor: Factor) -> None:
    """Loads the variant's net and runs it once; refuses the Lanczos fallback."""
    from imaging.engine.offline_enhance import enhance, image_enhancer

    image_enhancer(variant).load()
    tiny = photo("astronaut").resize((16, 16))
    warm = enhance(EnhanceRequest(tiny, "upscale", factor), variant=variant)
    if "fallback" in warm.description:
        raise RuntimeError(f"Real-ESRGAN {variant} did not load: {warm.description}")


def upscale_rows(profile: Profile) -> tuple[list[Row], list[str]]:
    from imaging.engine.offline_enhance import DEFAULT_VARIANT

    rows: list[Row] = []
    notes: list[str] = []
    runs: list[tuple[Factor, str, Crops]] = [
        (factor, DEFAULT_VARIANT, profile.upscale_crops) for factor in FACTORS
    ]
    if profile.x4plus_crops:
        runs.append((4, "x4plus", profile.x4plus_crops))
    for factor, variant, crops in runs:
        variants = (variant,) if variant == DEFAULT_VARIANT else (variant, DEFAULT_VARIANT)
        for name in variants:
            upscaler_warm(name, factor)
        found = upscale_set(crops, factor, variants)
        side = f"{crops[0][1][2] - crops[0][1][0]}²"
        what = f"upscale x{factor} {variant} (n={len(crops)}, {side})"
        ours = found[variant]
        for metric, label, digits in (("psnr", "PSNR-Y dB", 2), ("ssim", "SSIM-Y", 4)):
            for baseline in ("bicubic", "lanczos"):
                value, base = mean(ours[metric]), mean(found[baseline][metric])
                rows.append(
                    Row(
                        f"{what}: {label} (vs {baseline.capitalize()})", value, base, "higher",
                        "≥ baseline", value >= base, digits,
                    )
                )  # fmt: skip
        pixels = sum(ours["mp"])
        rows.append(
            Row(
                f"{what}: s / input MP (vs Lanczos)",
                sum(ours["s"]) / pixels, sum(found["lanczos"]["s"]) / pixels, "time", digits=2,
            )
        )  # fmt: skip
        ranking = []
        for metric, label, digits in (("psnr", "PSNR-Y", 2), ("ssim", "SSIM-Y", 4)):
            scores = {method: mean(values[metric]) for method, values in found.items()}
            best = max(scores, key=lambda method: scores[method])
            listed = ", ".join(f"{method} {score:.{digits}f}" for method, score in scores.items())
            ranking.append(f"best {label}: {best} ({listed})")
        notes.append(f"upscale x{factor}, n={len(crops)} x {side}: " + "; ".join(ranking))
    if not profile.x4plus_crops:
        notes.append(
            "upscale x4 x4plus: skipped in --quick (RRDBNet is about 80x slower than "
            "animevideov3 on CPU); the full run measures it on two 256² crops."
        )
    return rows, notes


# --- denoising --------------------------------------------------------------------------------


def denoised(noisy: np.ndarray) -> np.ndarray:
    from imaging.engine.offline_enhance import enhance

    request = EnhanceRequest(Image.fromarray(noisy), "denoise")
    return np.asarray(enhance(request).images[0])


def denoise_rows(profile: Profile) -> tuple[list[Row], list[str]]:
    from imaging.engine.offline_enhance import enhance

    enhance(EnhanceRequest(photo("astronaut").resize((32, 32)), "denoise"))  # warm-up
    rows: list[Row] = []
    seconds = {"ours": 0.0, "opencv": 0.0}
    pixels = 0.0
    rng = np.random.default_rng(0)
    for sigma in NOISE_SIGMAS:
        found: dict[str, list[float]] = {"ours": [], "opencv": [], "bilateral": [], "noisy": []}
        for name, box in profile.denoise_crops:
            clean = np.asarray(photo(name).crop(box))
            noise = rng.normal(0.0, sigma, clean.shape)
            noisy = np.clip(np.rint(clean + noise), 0, 255).astype(np.uint8)
            bgr = cv2.cvtColor(noisy, cv2.COLOR_RGB2BGR)
            ours, ours_s = timed(denoised, noisy)
            opencv, opencv_s = timed(cv2.fastNlMeansDenoisingColored, bgr)
            bilateral = cv2.bilateralFilter(bgr, 9, 75, 75)
            seconds["ours"] += ours_s
            seconds["opencv"] += opencv_s
            pixels += clean.shape[0] * clean.shape[1] / 1e6
            outputs = {
                "ours": ours,
                "opencv": cv2.cvtColor(opencv, cv2.COLOR_BGR2RGB),
                "bilateral": cv2.cvtColor(bilateral, cv2.COLOR_BGR2RGB),
                "noisy": noisy,
            }
            for method, output in outputs.items():
                found[method].append(float(peak_signal_noise_ratio(clean, output, data_range=255)))
        crops = f"n={len(profile.denoise_crops)}"
        ours_psnr = mean(found["ours"])
        for baseline, label in (
            ("opencv", "OpenCV NL-means defaults"),
            ("bilateral", "bilateral 9/75/75"),
            ("noisy", "the noisy input"),
        ):
            base = mean(found[baseline])
            rows.append(
                Row(
                    f"denoise sigma={sigma} ({crops}): PSNR dB (vs {label})", ours_psnr, base,
                    "higher", "> baseline", ours_psnr > base, 2,
                )
            )  # fmt: skip
    rows.append(
        Row(
            "denoise: s / MP (vs OpenCV NL-means defaults)",
            seconds["ours"] / pixels, seconds["opencv"] / pixels, "time", digits=2,
        )
    )  # fmt: skip
    return rows, []


# --- style transfer ---------------------------------------------------------------------------


def colour_distance(image: Image.Image, style: Image.Image) -> float:
    ours, target = colour_stats(image), colour_stats(style)
    return float(np.linalg.norm(ours.mean - target.mean) + np.linalg.norm(ours.std - target.std))


def fit(image: Image.Image, side: int) -> Image.Image:
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def reinhard(content: Image.Image, style: Image.Image) -> Image.Image:
    """The baseline: the content's CIELAB mean and std moved toward the style's by the same
    strength, per pixel (Reinhard et al. 2001)."""
    target = colour_stats(content).toward(colour_stats(style), STYLE_STRENGTH)
    return colour_transfer(content, target)


def style_rows(profile: Profile) -> tuple[list[Row], list[str]]:
    label = f"style transfer (n={len(profile.style_pairs)}, {profile.style_side} px)"
    try:
        module = importlib.import_module("imaging.engine.offline_style")
        transfer = module.style_transfer_offline
    except (ImportError, AttributeError) as error:
        why = f"not available ({error})"
        return [
            Row(f"{label}: edge SSIM to content (vs Reinhard)", None, None, "higher", note=why),
            Row(f"{label}: LAB distance to style (vs Reinhard)", None, None, "lower", note=why),
        ], []
    tiny = photo("astronaut").resize((32, 32))
    transfer(StyleTransferRequest(tiny, tiny, STYLE_STRENGTH))  # warm-up: loads the networks
    found: dict[str, list[float]] = {}
    seconds = {"ours": 0.0, "baseline": 0.0}
    pixels = 0.0
    for content_name, style_name in profile.style_pairs:
        content = fit(photo(content_name), profile.style_side)
        style = fit(photo(style_name), profile.style_side)
        request = StyleTransferRequest(content, style, STYLE_STRENGTH)
        styled, ours_s = timed(transfer, request)
        result: Image.Image = styled.images[0]
        baseline, baseline_s = timed(reinhard, content, style)
        seconds["ours"] += ours_s
        seconds["baseline"] += baseline_s
        pixels += megapixels(content)
        figures = {
            "ours edges": edge_ssim(content, result),
            "baseline edges": edge_ssim(content, baseline),
            "ours colour": colour_distance(result, style),
            "baseline colour": colour_distance(baseline, style),
            "content colour": colour_distance(content, style),
        }
        for name, value in figures.items():
            found.setdefault(name, []).append(value)
    ours_edges, ours_colour = mean(found["ours edges"]), mean(found["ours colour"])
    content_colour = mean(found["content colour"])
    limit = GOAL_COLOUR_SHARE * content_colour
    rows = [
        Row(
            f"{label}: edge SSIM to content (vs Reinhard)", ours_edges,
            mean(found["baseline edges"]), "higher", f"≥ {EDGE_SSIM_KEPT:.2f}",
            ours_edges >= EDGE_SSIM_KEPT,
        ),
        Row(
            f"{label}: LAB distance to style (vs Reinhard)", ours_colour,
            mean(found["baseline colour"]), "lower",
            f"≤ {limit:.1f} (half the content's {content_colour:.1f})", ours_colour <= limit, 1,
        ),
        Row(
            f"{label}: s / MP (vs Reinhard)",
            seconds["ours"] / pixels, seconds["baseline"] / pixels, "time", digits=2,
        ),
    ]  # fmt: skip
    return rows, []


# --- the table --------------------------------------------------------------------------------


def cell(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def table(rows: list[Row]) -> str:
    header = ("figure", "ours", "baseline (same run)", "ours - baseline", "goal", "met?")
    lines = []
    for row in rows:
        if row.ours is None:
            lines.append((row.figure, row.note, "", "", row.goal, "n/a"))
            continue
        met = "" if row.met is None else ("yes" if row.met else "NO")
        lines.append(
            (
                row.figure, cell(row.ours, row.digits), cell(row.baseline, row.digits),
                row.compared(), row.goal, met,
            )
        )  # fmt: skip
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]

    def render(line: tuple[str, ...]) -> str:
        return (
            "| "
            + " | ".join(text.ljust(width) for text, width in zip(line, widths, strict=True))
            + " |"
        )

    divider = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([render(header), divider, *(render(line) for line in lines)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small images, few samples (< 60 s)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    summary_argument(parser)
    args = parser.parse_args()
    profile = QUICK if args.quick else FULL
    cv2.setNumThreads(1)  # the engine's CPU workers run one task per core
    started = time.perf_counter()
    print(
        f"Quality of the offline operations ({'quick' if args.quick else 'full'}), "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"OpenCV {cv2.__version__}; one thread per operation, as a CPU worker runs it",
        flush=True,
    )
    rows: list[Row] = []
    notes: list[str] = []
    crashed = False
    sections: dict[str, Callable[[Profile], tuple[list[Row], list[str]]]] = {
        "background": background_rows,
        "upscale": upscale_rows,
        "denoise": denoise_rows,
        "style": style_rows,
    }
    for name in args.only:
        print(f"{name} ...", flush=True)
        phase = time.perf_counter()
        try:
            made, more = sections[name](profile)
        except Exception:
            crashed = True
            print(f"ERROR in {name}:\n{traceback.format_exc()}", flush=True)
            continue
        rows += made
        notes += more
        print(f"{name}: {time.perf_counter() - phase:.1f} s", flush=True)
    print()
    print(table(rows))
    for note in notes:
        print(f"- {note}")
    figures_write(
        args.summary,
        [
            Figure("quality", row.figure, row.ours, row.baseline, "", row.goal, row.met)
            for row in rows
            if row.goal and row.ours is not None
        ],
    )
    missed = [row.figure for row in rows if row.met is False]
    goals = sum(row.met is not None for row in rows)
    print(
        f"\n{goals - len(missed)} of {goals} goals met; "
        f"{time.perf_counter() - started:.0f} s in all."
    )
    if crashed:
        return 1
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
