"""A tiny random-weight Qwen-Image-Edit-2511 pipeline (`QwenImageEditPlusPipeline`) built locally
for tests.

It has the production model's structure and component classes (FlowMatch Euler scheduler with
Qwen-Image's settings, `AutoencoderKLQwenImage` with the usual 8x compression and 2x2 latent
patches, a `Qwen2_5_VLForConditionalGeneration` text encoder with a vision tower, a byte-level
BPE `Qwen2TokenizerFast` with Qwen's chat and vision special tokens, a `Qwen2VLProcessor` made of
that tokenizer and a `Qwen2VLImageProcessor`, `QwenImageTransformer2DModel` with 2511's
`zero_cond_t`), with every width cut to a few channels. Loading it needs torchvision (see
`processor_save`). The vision tower keeps Qwen2.5-VL's
14 px patches, 2x2 token merge and 2-frame temporal patches, so the processor expands each
`<|image_pad|>` exactly as in production. It is saved with `save_pretrained` and is NOT marked as
a demo model, so the engine drives it with the production recipe of `QwenImageEditPlusPipeline`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from imaging.engine.demo_models import model_folder_write_once
from tests.imaging.engine.tiny_flux2 import model_index_present

PROCESSOR = "Qwen2VLProcessor"
TEXT_HIDDEN = 16
TEXT_HEAD_DIM = 8
# Multimodal RoPE splits half of each head's dimensions into (time, height, width) sections.
MROPE_SECTION = (1, 1, 2)
VISION_HIDDEN = 16
# The VAE's latent channels (production: 16); the transformer sees them packed in 2x2 patches.
LATENT_CHANNELS = 4
# Three spatial downsamplings (two of them also temporal, as in production): 8x compression.
# The pipeline encodes every reference image at one megapixel: the full-resolution blocks get
# 2 channels, the mid-block attention (over 128 x 128 positions) 16, which CPU attention runs
# fastest (production: 96 channels times 1, 2, 4, 4).
VAE_BASE_DIM = 2
VAE_DIM_MULT = (1, 2, 4, 8)
VAE_TEMPORAL_DOWNSAMPLE = (False, True, True)

# Qwen2.5-VL's special tokens, in the order of its vocabulary (ids differ: ours start at 0).
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
# The pipeline's system prompt (`prompt_template_encode`) up to the user's text. The real
# tokenizer makes it 64 tokens, and the pipeline drops that many hidden states
# (`prompt_template_encode_start_idx`): our BPE merges each of its words into one token too.
TEMPLATE_PREFIX = (
    "<|im_start|>system\nDescribe the key features of the input image (color, shape, size, "
    "texture, objects, background), then explain how the user's text instruction should alter or "
    "modify the image. Generate a new image that meets the user's requirements while maintaining "
    "consistency with the original input where appropriate.<|im_end|>\n<|im_start|>user\n"
)
# Qwen2.5-VL's chat template for text and image turns (what the processor exposes).
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_qwen_image_edit_plus_build(folder: Path) -> Path:
    """Build the tiny pipeline and save it to `folder` (reused when already saved there)."""

    def write(staging: Path) -> None:
        tokenizer = tiny_qwen_vl_tokenizer()
        tiny_qwen_image_edit_plus_pipeline(tokenizer).save_pretrained(
            staging, safe_serialization=True
        )
        processor_save(staging, tokenizer)

    return model_folder_write_once(Path(folder), write, done=model_index_present)


def tiny_qwen_image_edit_plus_pipeline(tokenizer: Any) -> Any:
    """The in-memory pipeline: real classes, tiny configs, seeded random weights. The processor
    is left out (see `processor_save`)."""
    import torch
    from diffusers import QwenImageEditPlusPipeline

    torch.manual_seed(0)
    return QwenImageEditPlusPipeline(
        scheduler=tiny_scheduler(),
        vae=tiny_vae(),
        text_encoder=tiny_text_encoder(tokenizer),
        tokenizer=tokenizer,
        processor=None,
        transformer=tiny_transformer(),
    )


def processor_save(pipeline_folder: Path, tokenizer: Any) -> None:
    """Save the `Qwen2VLProcessor` of the pipeline: its tokenizer, its image processor and its
    chat template in `processor/`, registered in `model_index.json`.

    transformers 5 cannot instantiate `Qwen2VLProcessor` without torchvision (its video
    processor needs it), so the parts are saved as `Qwen2VLProcessor.save_pretrained` lays them
    out, less the video processor's config: on load (with torchvision) the processor builds its
    video processor from the image processor's config."""
    folder = pipeline_folder / "processor"
    tokenizer.save_pretrained(folder)
    tiny_image_processor().save_pretrained(folder)
    (folder / "chat_template.jinja").write_text(CHAT_TEMPLATE, encoding="utf-8")
    _json_update(folder / "processor_config.json", {"processor_class": PROCESSOR})
    # The class the production checkpoint names (not the torchvision-free fallback's).
    _json_update(
        folder / "preprocessor_config.json",
        {"image_processor_type": "Qwen2VLImageProcessor", "processor_class": PROCESSOR},
    )
    _json_update(pipeline_folder / "model_index.json", {"processor": ["transformers", PROCESSOR]})


def _json_update(path: Path, values: dict[str, Any]) -> None:
    """Merge `values` into the JSON object at `path` (created when missing)."""
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    data.update(values)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def tiny_qwen_vl_tokenizer() -> Any:
    """A Qwen2 byte-level BPE over the 256 byte symbols plus Qwen2.5-VL's special tokens, with
    merges that make every word of the pipeline's system prompt one token. Any other text,
    Chinese included, tokenizes byte by byte without unknown tokens."""
    from transformers import Qwen2TokenizerFast
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab: dict[str, int] = {token: index for index, token in enumerate(SPECIAL_TOKENS)}
    for symbol in bytes_to_unicode().values():
        vocab[symbol] = len(vocab)
    bytes_only = Qwen2TokenizerFast(vocab=dict(vocab), merges=[])
    merges = _word_merges(bytes_only, TEMPLATE_PREFIX, vocab)
    tokenizer = Qwen2TokenizerFast(vocab=vocab, merges=merges, chat_template=CHAT_TEMPLATE)
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS[1:])})
    return tokenizer


def _word_merges(tokenizer: Any, text: str, vocab: dict[str, int]) -> list[tuple[str, str]]:
    """BPE merges that make each pre-token (a word with its leading space) of `text` one token;
    new tokens are appended to `vocab`.

    Each word is first split with the merges made so far and its pieces are then joined left to
    right by new, later merges: earlier words still merge exactly as before."""
    from tokenizers.models import BPE

    pre_tokenizer = tokenizer.backend_tokenizer.pre_tokenizer
    merges: list[tuple[str, str]] = []
    for segment in _split_special(text):
        for word, _ in pre_tokenizer.pre_tokenize_str(segment):
            pieces = [token.value for token in BPE(dict(vocab), list(merges)).tokenize(word)]
            joined = pieces[0]
            for piece in pieces[1:]:
                merges.append((joined, piece))
                joined += piece
                vocab.setdefault(joined, len(vocab))
    return merges


def _split_special(text: str) -> list[str]:
    """`text` without its special tokens, as the plain segments between them."""
    segments = [text]
    for token in SPECIAL_TOKENS:
        segments = [part for segment in segments for part in segment.split(token)]
    return [segment for segment in segments if segment]


def tiny_image_processor() -> Any:
    """Qwen2-VL's image processor with Qwen-Image-Edit's settings: production resize limits,
    14 px patches, 2-frame temporal patches, 2x2 merge. Built with the torchvision-free
    implementation; the saved config names `Qwen2VLImageProcessor`, so loading picks whichever
    backend is installed."""
    from transformers import Qwen2VLImageProcessorPil

    return Qwen2VLImageProcessorPil(
        min_pixels=3136,
        max_pixels=12845056,
        patch_size=14,
        temporal_patch_size=2,
        merge_size=2,
        image_mean=[0.48145466, 0.4578275, 0.40821073],
        image_std=[0.26862954, 0.26130258, 0.27577711],
    )


def tiny_text_encoder(tokenizer: Any) -> Any:
    """Qwen2.5-VL with two narrow text layers and a two-block vision tower (one windowed, one
    full-attention block), its vision token ids taken from `tokenizer`."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    ids = tokenizer.convert_tokens_to_ids
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": TEXT_HIDDEN,
            "intermediate_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": TEXT_HIDDEN // TEXT_HEAD_DIM,
            "num_key_value_heads": 1,
            "max_position_embeddings": 2048,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1000000.0,
                "mrope_section": list(MROPE_SECTION),
            },
            "bos_token_id": ids("<|endoftext|>"),
            "eos_token_id": ids("<|im_end|>"),
            "pad_token_id": ids("<|endoftext|>"),
        },
        vision_config={
            "depth": 2,
            "hidden_size": VISION_HIDDEN,
            "intermediate_size": 32,
            "num_heads": 2,
            "out_hidden_size": TEXT_HIDDEN,
            "fullatt_block_indexes": [1],
        },
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
    )
    return Qwen2_5_VLForConditionalGeneration(config).eval()


def tiny_transformer() -> Any:
    """The Qwen-Image MMDiT with one block; 2511's zero timestep for the reference latents."""
    from diffusers import QwenImageTransformer2DModel

    return QwenImageTransformer2DModel(
        patch_size=2,
        in_channels=LATENT_CHANNELS * 4,  # latents are packed in 2x2 patches
        out_channels=LATENT_CHANNELS,
        num_layers=1,
        # One 16-wide head: the sequence holds every reference image's latents (about 4,100
        # tokens each, the pipeline encodes them at one megapixel), and CPU attention is
        # fastest with one head of 16.
        attention_head_dim=16,
        num_attention_heads=1,
        joint_attention_dim=TEXT_HIDDEN,
        guidance_embeds=False,
        axes_dims_rope=(4, 6, 6),  # (frame, height, width); sums to attention_head_dim
        zero_cond_t=True,
    )


def tiny_vae() -> Any:
    """The Qwen-Image (Wan-style causal 3D) autoencoder with 2-channel base width."""
    from diffusers import AutoencoderKLQwenImage

    return AutoencoderKLQwenImage(
        base_dim=VAE_BASE_DIM,
        z_dim=LATENT_CHANNELS,
        dim_mult=list(VAE_DIM_MULT),
        num_res_blocks=1,
        temperal_downsample=list(VAE_TEMPORAL_DOWNSAMPLE),
        latents_mean=[0.0] * LATENT_CHANNELS,
        latents_std=[1.0] * LATENT_CHANNELS,
    )


def tiny_scheduler() -> Any:
    """Qwen-Image's scheduler settings (dynamic shifting: the pipeline passes `mu`)."""
    import math

    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000,
        shift=1.0,
        use_dynamic_shifting=True,
        base_shift=math.log(3),
        max_shift=math.log(3),
        base_image_seq_len=256,
        max_image_seq_len=8192,
        shift_terminal=0.02,
        time_shift_type="exponential",
    )
