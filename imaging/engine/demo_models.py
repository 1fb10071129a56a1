"""Builds the tiny random-weight "demo" diffusion models that CPU machines and tests run.

They are made from small configs with the real diffusers/transformers classes (Stable Diffusion's
UNet, VAE and CLIP text encoder, a byte-level CLIP tokenizer built in memory), saved with
`save_pretrained` and loaded back by `ModelManager` through the same `from_pretrained` code that
loads production models. Their output is structured noise, labelled as demo output everywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imaging.engine.model_choice import DiffusionModels

DEMO_MARKER = "nanobanana_demo.json"
DEMO_VERSION = 1
# One folder serves every diffusion operation: text-to-image loads it as StableDiffusionPipeline,
# the image-conditioned operations derive StableDiffusionImg2ImgPipeline from the same weights.
DEMO_FOLDER = f"nanobanana-demo-sd-v{DEMO_VERSION}"


def demo_models_build(cache_dir: str | os.PathLike[str]) -> DiffusionModels:
    """Build the demo models once under `cache_dir` (skipped when present) and return the
    `DiffusionModels` that point every operation at them."""
    from imaging.engine.model_choice import DiffusionModels

    def write(folder: Path) -> None:
        _demo_pipeline().save_pretrained(folder, safe_serialization=True)
        (folder / DEMO_MARKER).write_text(json.dumps({"version": DEMO_VERSION}))

    target = model_folder_write_once(Path(cache_dir) / DEMO_FOLDER, write, done=is_demo_model)
    path = str(target)
    return DiffusionModels(
        text_to_image=path, image_edit=path, style_transfer=path, batch_edit=path
    )


def model_folder_write_once(
    target: Path, write: Callable[[Path], None], *, done: Callable[[Path], bool]
) -> Path:
    """Write a model folder once (nothing to do when `done(target)`). `write` fills a sibling
    folder that is then renamed into place, so a crash or a concurrent builder never leaves a
    half-written model that looks complete."""
    if done(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=target.parent))
    try:
        write(staging)
        try:
            staging.rename(target)
        except OSError:
            if not done(target):
                raise  # another process won the race only if it left a complete folder
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone once renamed
    return target


def is_demo_model(path: str | os.PathLike[str]) -> bool:
    """True for a folder `demo_models_build` wrote (its output must be labelled as demo)."""
    return (Path(path) / DEMO_MARKER).is_file() and (Path(path) / "model_index.json").is_file()


def demo_tokenizer():
    """A CLIP tokenizer over the 256 byte-level symbols (and their end-of-word forms): every
    string, Chinese included, tokenizes without unknown tokens."""
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    symbols = list(bytes_to_unicode().values())
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for symbol in symbols:
        vocab[symbol] = len(vocab)
    for symbol in symbols:
        vocab[symbol + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _demo_pipeline():
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)  # the same demo weights on every machine
    tokenizer = demo_tokenizer()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            projection_dim=32,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )
    unet = UNet2DConditionModel(
        sample_size=64,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 32, 64),
        layers_per_block=1,
        # Attention only at the coarsest level (a quarter of the latent side): its cost grows
        # with the square of the token count, and 1024x1024 images must stay in seconds on CPU.
        down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=8,
    )
    # Four blocks give the usual 8x spatial compression, so a 512x512 image is a 64x64 latent
    # and the UNet's cost stays small at product sizes.
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(4, 4, 8, 8),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=4,
        sample_size=512,
        # Self-attention over every latent pixel is quadratic: 16k tokens at 1024x1024.
        mid_block_add_attention=False,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="trailing",
        steps_offset=1,
    )
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
