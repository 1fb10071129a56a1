"""Which diffusion model serves which operation: ids or local paths, one frozen config, chosen
from the configured values with the demo models for what is left empty; and the device torch
models run on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.operations import Operation

# Production defaults (commercially usable licences; checked against diffusers 0.42.1):
# - text-to-image: Flux2KleinPipeline + black-forest-labs/FLUX.2-klein-4B (Apache-2.0), a
#   step-distilled 4B model; Tongyi-MAI/Z-Image-Turbo (ZImagePipeline, Apache-2.0) is the
#   alternative.
# - image edit, style transfer, batch edit: QwenImageEditPlusPipeline + Qwen/Qwen-Image-Edit-2511
#   (Apache-2.0): reads Chinese and takes a list of reference images.
PRODUCTION_TEXT_TO_IMAGE = "black-forest-labs/FLUX.2-klein-4B"
PRODUCTION_IMAGE_EDIT = "Qwen/Qwen-Image-Edit-2511"


@dataclass(frozen=True)
class DiffusionModels:
    """A model id (hub repo id, resolved from the local HF cache) or a local folder per
    operation. Style transfer and batch edit default to the image-edit model."""

    text_to_image: str = PRODUCTION_TEXT_TO_IMAGE
    image_edit: str = PRODUCTION_IMAGE_EDIT
    style_transfer: str | None = None
    batch_edit: str | None = None

    def for_operation(self, operation: Operation) -> str:
        match operation:
            case Operation.TEXT_TO_IMAGE:
                return self.text_to_image
            case Operation.IMAGE_EDIT:
                return self.image_edit
            case Operation.STYLE_TRANSFER:
                return self.style_transfer or self.image_edit
            case Operation.BATCH_EDIT:
                return self.batch_edit or self.image_edit
        raise ValueError(f"no diffusion model for operation {operation!r}")


def diffusion_models_choose(configured: Mapping[str, str], *, demo: str) -> DiffusionModels:
    """The configured id or folder per operation (settings' IMAGING_DIFFUSION_MODELS); text to
    image and image edit left empty use the demo folder `demo` (style transfer and batch edit
    then follow image edit)."""
    chosen = {name: value for name, value in configured.items() if value}
    return DiffusionModels(
        text_to_image=chosen.get("text_to_image") or demo,
        image_edit=chosen.get("image_edit") or demo,
        style_transfer=chosen.get("style_transfer"),
        batch_edit=chosen.get("batch_edit"),
    )


def demo_needed(configured: Mapping[str, str]) -> bool:
    """Whether `diffusion_models_choose` would point an operation at the demo folder."""
    return not configured.get("text_to_image") or not configured.get("image_edit")


def torch_device() -> str:
    """Where torch models run unless told otherwise: the GPU when there is one."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
