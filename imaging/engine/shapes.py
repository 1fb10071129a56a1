"""Which input image shapes the engine's operations can take: one rule, applied by the pipelines
and checked by the submit path before anything is charged."""

from __future__ import annotations

# FLUX.2 klein's image processor refuses input images beyond 8:1 (with a bare ValueError), and
# the instruction-edit pipelines feed it every input image (references included). Smaller sides
# are no reason to refuse: the pipelines scale images under MIN_SIDE up and the result back.
MAX_ASPECT_RATIO = 8
MIN_SIDE = 64
# The operations whose input images go through a diffusion pipeline; background removal and
# enhancement work on any shape.
ASPECT_LIMITED_OPERATIONS = frozenset({"image_edit", "style_transfer", "batch_edit"})


def aspect_ratio_accepted(*, width: int, height: int) -> bool:
    """Whether the long side is at most MAX_ASPECT_RATIO times the short one."""
    short, long = sorted((width, height))
    return long <= MAX_ASPECT_RATIO * short


def input_shape_accepted(*, operation: str, width: int, height: int) -> bool:
    """Whether `operation` can take an input image of this size."""
    return operation not in ASPECT_LIMITED_OPERATIONS or aspect_ratio_accepted(
        width=width, height=height
    )
