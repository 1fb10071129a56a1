"""Turns any decoded Pillow image into the 8-bit RGB (+ optional alpha) arrays the offline
operations compute on, and progress/cancel plumbing shared by them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from imaging.engine.types import CancelCheck, OperationCancelled, ProgressCallback


@dataclass(frozen=True)
class Pixels:
    """An image as uint8 arrays: `rgb` (H, W, 3) and `alpha` (H, W) when the input carried real
    transparency (any alpha below 255), else None."""

    rgb: np.ndarray
    alpha: np.ndarray | None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as Pillow counts."""
        return self.rgb.shape[1], self.rgb.shape[0]


def pixels_from_image(image: Image.Image) -> Pixels:
    """RGB and alpha of any Pillow mode: palette transparency becomes alpha, 16-bit and float
    greyscale are scaled (Pillow's own convert("L") clips them), CMYK/LAB/YCbCr go through
    Pillow's converters."""
    image.load()
    mode = image.mode
    if mode in {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}:
        values = np.asarray(image, dtype=np.float64)
        if mode.startswith("I;16") or (mode == "I" and values.max(initial=0) > 255):
            values = values / 257.0
        elif mode == "F" and values.max(initial=0) <= 1.0:
            values = values * 255.0
        grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return Pixels(rgb=np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2)), alpha=None)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    elif mode == "P":
        image = image.convert("RGB")
    if image.mode in {"RGBA", "LA", "PA", "RGBa", "La"}:
        rgba = np.asarray(image.convert("RGBA"))
        alpha = np.ascontiguousarray(rgba[..., 3])
        rgb = np.ascontiguousarray(rgba[..., :3])
        return Pixels(rgb=rgb, alpha=alpha if alpha.min(initial=255) < 255 else None)
    return Pixels(rgb=np.ascontiguousarray(np.asarray(image.convert("RGB"))), alpha=None)


def image_from_pixels(rgb: np.ndarray, alpha: np.ndarray | None = None) -> Image.Image:
    """An RGB image, or RGBA when an alpha plane is given."""
    if alpha is None:
        return Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB")
    rgba = np.dstack([rgb.astype(np.uint8), alpha.astype(np.uint8)])
    return Image.fromarray(np.ascontiguousarray(rgba), "RGBA")


class Progress:
    """Reports monotonic percentages and polls for cancellation between units of work."""

    def __init__(
        self, on_progress: ProgressCallback | None, should_cancel: CancelCheck | None
    ) -> None:
        self._on_progress = on_progress
        self._should_cancel = should_cancel
        self._last = -1

    def report(self, percent: float) -> None:
        value = max(0, min(100, int(percent)))
        if value > self._last:
            self._last = value
            if self._on_progress is not None:
                self._on_progress(value)

    def check(self) -> None:
        if self._should_cancel is not None and self._should_cancel():
            raise OperationCancelled("cancelled")
