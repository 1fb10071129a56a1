"""Quality measures that bench/quality.py reports and the engine's tests assert: one definition
of each, so a test's threshold and the benchmark's goal are the same figure."""

from __future__ import annotations

import numpy as np
from PIL import Image
from skimage import color, filters
from skimage.metrics import structural_similarity

# Edge-map SSIM between a content photo and another picture (`edge_ssim`), measured on
# scikit-image's astronaut, chelsea and coffee at full size with the rocket as style:
#   style transfer at strength 0.8: astronaut 0.69, chelsea 0.51, coffee 0.69
#               (strength 0: 0.60-0.79; strength 1: 0.42-0.67)
#   unrelated   0.13-0.30 (each photo against the other two and the style image, resized)
#   pure noise  0.03-0.07
# 0.40 sits about 0.10 above the unrelated pictures' maximum and 0.10 below the results'
# minimum at strength 0.8: above it, the content's structure is kept.
EDGE_SSIM_KEPT = 0.40


def edge_map(image: Image.Image | np.ndarray) -> np.ndarray:
    """Sobel magnitude of the blurred grey image (sigma 2: structure, not the brush texture a
    style adds), scaled by its own 99th percentile so both maps share a range."""
    grey = color.rgb2gray(np.asarray(image)[..., :3])
    edges = filters.sobel(filters.gaussian(grey, sigma=2))
    return edges / max(float(np.percentile(edges, 99)), 1e-6)


def edge_ssim(a: Image.Image | np.ndarray, b: Image.Image | np.ndarray) -> float:
    """How much of `a`'s structure `b` keeps: SSIM of the two edge maps (same size)."""
    first, second = edge_map(a), edge_map(b)
    return float(structural_similarity(first, second, data_range=max(first.max(), second.max())))
