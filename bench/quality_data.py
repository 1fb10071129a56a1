"""The labelled set the quality benchmark (bench/quality.py) measures background removal on:
scikit-image's photos with hand-drawn subject outlines, and composites of those cut-outs pasted
onto other photos, whose alpha is known exactly.

The outlines live in tests/data/quality/<photo>.json: `polygons` (lists of [x, y] vertices in
the photo's pixels) filled, minus `holes`, give the subject; `is_person` says which goal applies
and `subject` says what was drawn. They were placed by eye on a zoomed grid and checked on an
overlay, so they are good to a pixel or two on sharp edges and less on fur and blur.

Use: `from bench.quality_data import labelled_masks, composites` (repository root on sys.path).
Everything is deterministic and built from data that ships in the scikit-image wheel."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from skimage import data

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "tests" / "data" / "quality"
# Polygons are rasterised at this multiple of the photo's size and averaged down, so the
# composites' alpha is anti-aliased the way a real edge is.
SUPERSAMPLE = 4


@dataclass(frozen=True)
class LabelledImage:
    """A photo and its subject: `mask` is (H, W) bool, `alpha` (H, W) float32 in [0, 1] (the
    hand-drawn outline anti-aliased, or the exact alpha a composite was pasted with)."""

    name: str
    image: Image.Image  # RGB
    mask: np.ndarray
    is_person: bool
    alpha: np.ndarray

    def resized(self, long_side: int) -> LabelledImage:
        """The same photo and truth with the long side at most `long_side` px (Lanczos for the
        photo, area averaging for the alpha)."""
        scale = long_side / max(self.image.size)
        if scale >= 1.0:
            return self
        size = (max(1, round(self.image.width * scale)), max(1, round(self.image.height * scale)))
        image = self.image.resize(size, Image.Resampling.LANCZOS)
        alpha = np.asarray(
            Image.fromarray(self.alpha, "F").resize(size, Image.Resampling.BOX), dtype=np.float32
        )
        return LabelledImage(self.name, image, alpha >= 0.5, self.is_person, alpha)


def photo(name: str) -> Image.Image:
    """One of scikit-image's bundled photos as RGB (greyscale ones repeated to three channels)."""
    loaders: dict[str, Callable[[], np.ndarray]] = {
        "astronaut": data.astronaut,
        "camera": data.camera,
        "chelsea": data.chelsea,
        "coffee": data.coffee,
        "rocket": data.rocket,
        "hubble": data.hubble_deep_field,
        "brick": data.brick,
        "grass": data.grass,
        "gravel": data.gravel,
        "immunohistochemistry": data.immunohistochemistry,
        "motorcycle": lambda: data.stereo_motorcycle()[0],
    }
    pixels = loaders[name]()
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    return Image.fromarray(np.ascontiguousarray(pixels[..., :3])).convert("RGB")


def outline_alpha(size: tuple[int, int], polygons: list, holes: list) -> np.ndarray:
    """The filled polygons minus the holes, (H, W) float32 coverage in [0, 1]."""
    width, height = size
    canvas = Image.new("L", (width * SUPERSAMPLE, height * SUPERSAMPLE), 0)
    draw = ImageDraw.Draw(canvas)
    for shape, fill in [(p, 255) for p in polygons] + [(h, 0) for h in holes]:
        draw.polygon([(x * SUPERSAMPLE, y * SUPERSAMPLE) for x, y in shape], fill=fill)
    coverage = np.asarray(canvas, dtype=np.float32) / 255.0
    return coverage.reshape(height, SUPERSAMPLE, width, SUPERSAMPLE).mean(axis=(1, 3))


@cache
def labelled_masks() -> list[LabelledImage]:
    """Every hand-labelled photo under tests/data/quality, sorted by name (persons: astronaut,
    camera; other subjects: chelsea, coffee, motorcycle, rocket)."""
    found = []
    for path in sorted(LABELS.glob("*.json")):
        label = json.loads(path.read_text())
        image = photo(label["image"])
        alpha = outline_alpha(image.size, label["polygons"], label.get("holes", []))
        found.append(
            LabelledImage(
                name=path.stem,
                image=image,
                mask=alpha >= 0.5,
                is_person=bool(label["is_person"]),
                alpha=alpha,
            )
        )
    return found


@dataclass(frozen=True)
class Placement:
    """Where a cut-out goes: its height as a share of the canvas height, the horizontal centre
    as a share of the width, and whether it stands on the bottom edge (subjects cut by the
    photo's bottom edge, like a portrait) or floats (its vertical centre as a share)."""

    subject: str
    background: str
    height: float
    centre_x: float
    centre_y: float | None = None  # None: the cut-out's bottom on the canvas's bottom edge


# Cut-outs on real backgrounds the subjects were never photographed on. Backgrounds are whole
# photos or their parts: the launch site, deep space, brick, grass and gravel textures, and
# the coffee table (the right-hand strip of the coffee photo, with no cup in it).
PLACEMENTS = (
    Placement("astronaut", "rocket", 0.95, 0.50),
    Placement("astronaut", "grass", 0.80, 0.35),
    Placement("astronaut", "brick", 0.90, 0.65),
    Placement("astronaut", "hubble", 0.75, 0.40),
    Placement("camera", "gravel", 0.90, 0.20),
    Placement("camera", "table", 0.85, 0.15),
    Placement("coffee", "grass", 0.60, 0.50, 0.50),
    Placement("coffee", "brick", 0.50, 0.30, 0.55),
    Placement("coffee", "hubble", 0.55, 0.65, 0.45),
    Placement("coffee", "table", 0.70, 0.45, 0.50),
    Placement("rocket", "grass", 0.80, 0.50, 0.50),
    Placement("rocket", "table", 0.70, 0.40, 0.45),
)


def background(name: str, size: tuple[int, int]) -> Image.Image:
    """A background photo filling `size` (scaled to cover, centre-cropped)."""
    source = photo("coffee").crop((480, 0, 600, 400)) if name == "table" else photo(name)
    width, height = size
    scale = max(width / source.width, height / source.height)
    scaled = source.resize(
        (max(width, round(source.width * scale)), max(height, round(source.height * scale))),
        Image.Resampling.LANCZOS,
    )
    left, top = (scaled.width - width) // 2, (scaled.height - height) // 2
    return scaled.crop((left, top, left + width, top + height))


def composites(
    size: tuple[int, int] = (512, 384), placements: tuple[Placement, ...] = PLACEMENTS
) -> list[LabelledImage]:
    """The cut-outs of `placements` pasted onto their backgrounds at `size`, with the alpha they
    were pasted with as the truth: result = alpha * subject + (1 - alpha) * background, in
    8-bit sRGB as a photo editor does it."""
    labelled = {item.name: item for item in labelled_masks()}
    made = []
    for placement in placements:
        subject = labelled[placement.subject]
        ys, xs = np.nonzero(subject.alpha > 0)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        cut_rgb = subject.image.crop(box)
        cut_alpha = Image.fromarray(np.round(subject.alpha * 255).astype(np.uint8)).crop(box)
        width, height = size
        target_h = max(8, round(placement.height * height))
        target_w = max(4, round(cut_rgb.width * target_h / cut_rgb.height))
        cut_rgb = cut_rgb.resize((target_w, target_h), Image.Resampling.LANCZOS)
        cut_alpha = cut_alpha.resize((target_w, target_h), Image.Resampling.LANCZOS)
        left = round(placement.centre_x * width - target_w / 2)
        if placement.centre_y is None:
            top = height - target_h
        else:
            top = round(placement.centre_y * height - target_h / 2)
        canvas_alpha = Image.new("L", size, 0)
        canvas_alpha.paste(cut_alpha, (left, top))
        layer = Image.new("RGB", size, (0, 0, 0))
        layer.paste(cut_rgb, (left, top))
        alpha = np.asarray(canvas_alpha, dtype=np.float32) / 255.0
        under = np.asarray(background(placement.background, size), dtype=np.float32)
        over = np.asarray(layer, dtype=np.float32)
        mixed = alpha[..., None] * over + (1.0 - alpha[..., None]) * under
        image = Image.fromarray(np.clip(np.round(mixed), 0, 255).astype(np.uint8), "RGB")
        made.append(
            LabelledImage(
                name=f"{placement.subject} on {placement.background}",
                image=image,
                mask=alpha >= 0.5,
                is_person=subject.is_person,
                alpha=alpha,
            )
        )
    return made
