"""A tiny random-weight FLUX.2 klein pipeline (`Flux2KleinPipeline`) built locally for tests.

It has the production model's structure and component classes (FlowMatch Euler scheduler,
`AutoencoderKLFlux2` with the usual 8x compression and 2x2 latent patches, a Qwen3 causal LM
as text encoder, a byte-level BPE `Qwen2TokenizerFast` with a chat template,
`Flux2Transformer2DModel`), with every width cut to a few channels. It is saved with
`save_pretrained` and is NOT marked as a demo model, so the engine drives it with the
production recipe of `Flux2KleinPipeline`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imaging.engine.demo_models import model_folder_write_once

# The pipeline stacks the text encoder's hidden states 9, 18 and 27 (its default
# `text_encoder_out_layers`, which the engine does not override): the encoder needs 27 layers.
TEXT_LAYERS = 27
TEXT_HIDDEN = 8
# Three stacked hidden states are the transformer's text features.
JOINT_ATTENTION_DIM = 3 * TEXT_HIDDEN
# Four VAE blocks give an 8x compression; 2x2 patches make the 16 px granularity of the recipe.
LATENT_CHANNELS = 4
VAE_BLOCKS = (4, 4, 4, 4)

# Qwen's chat markers; the template mirrors Qwen3's for one turn, thinking disabled.
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n{% endif %}"
    "{% endif %}"
)


def tiny_flux2_klein_build(folder: Path) -> Path:
    """Build the tiny pipeline and save it to `folder` (reused when already saved there)."""
    return model_folder_write_once(
        Path(folder),
        lambda staging: tiny_flux2_klein_pipeline().save_pretrained(
            staging, safe_serialization=True
        ),
        done=model_index_present,
    )


def model_index_present(folder: Path) -> bool:
    return (folder / "model_index.json").is_file()


def tiny_flux2_klein_pipeline() -> Any:
    """The in-memory pipeline: real classes, tiny configs, seeded random weights."""
    import torch
    from diffusers import Flux2KleinPipeline

    torch.manual_seed(0)
    tokenizer = tiny_qwen_tokenizer()
    return Flux2KleinPipeline(
        scheduler=tiny_scheduler(),
        vae=tiny_vae(),
        text_encoder=tiny_text_encoder(vocab_size=len(tokenizer)),
        tokenizer=tokenizer,
        transformer=tiny_transformer(),
        # FLUX.2 klein 4B is step-distilled: no classifier-free guidance pass.
        is_distilled=True,
    )


def tiny_qwen_tokenizer() -> Any:
    """A Qwen2 byte-level BPE over the 256 byte symbols (no merges) plus Qwen's special tokens:
    every string, Chinese included, tokenizes without unknown tokens."""
    from transformers import Qwen2TokenizerFast
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab: dict[str, int] = {token: index for index, token in enumerate(SPECIAL_TOKENS)}
    for symbol in bytes_to_unicode().values():
        vocab[symbol] = len(vocab)
    tokenizer = Qwen2TokenizerFast(vocab=vocab, merges=[], chat_template=CHAT_TEMPLATE)
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS[1:])})
    return tokenizer


def tiny_text_encoder(*, vocab_size: int) -> Any:
    """A Qwen3 causal LM with 27 narrow layers (see TEXT_LAYERS)."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=vocab_size,
        hidden_size=TEXT_HIDDEN,
        intermediate_size=16,
        num_hidden_layers=TEXT_LAYERS,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=4,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        pad_token_id=0,
        eos_token_id=0,
    )
    return Qwen3ForCausalLM(config).eval()


def tiny_transformer() -> Any:
    """A Flux2 MMDiT with one double-stream and one single-stream block."""
    from diffusers import Flux2Transformer2DModel

    return Flux2Transformer2DModel(
        patch_size=1,
        in_channels=LATENT_CHANNELS * 4,  # latents are packed in 2x2 patches
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=JOINT_ATTENTION_DIM,
        timestep_guidance_channels=32,
        axes_dims_rope=(4, 4, 4, 4),  # sums to attention_head_dim
        guidance_embeds=False,
    )


def tiny_vae() -> Any:
    """The FLUX.2 autoencoder with 4-channel blocks and no mid-block attention."""
    from diffusers import AutoencoderKLFlux2

    return AutoencoderKLFlux2(
        block_out_channels=VAE_BLOCKS,
        latent_channels=LATENT_CHANNELS,
        layers_per_block=1,
        norm_num_groups=2,
        sample_size=64,
        mid_block_add_attention=False,
    )


def tiny_scheduler() -> Any:
    """The FLUX.2 klein scheduler settings (dynamic shifting: the pipeline passes `mu`)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000,
        shift=3.0,
        use_dynamic_shifting=True,
        base_shift=0.5,
        max_shift=1.15,
        base_image_seq_len=256,
        max_image_seq_len=4096,
        time_shift_type="exponential",
    )
