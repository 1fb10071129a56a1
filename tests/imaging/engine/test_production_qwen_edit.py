"""The engine's production edit path on a tiny random-weight Qwen-Image-Edit-2511
(`QwenImageEditPlusPipeline`): image edit, style transfer and batch edit.

The folder is built with the real diffusers/transformers classes, saved, loaded back by
`ModelManager` through `from_pretrained` and driven with the `QwenImageEditPlusPipeline` recipe
(it is not a demo model). The only test double is a pass-through wrapper around the pipeline's
`__call__` that records the arguments the engine passes and the raw output it gets back.

transformers 5 loads `Qwen2VLProcessor` only with torchvision (its video processor needs it);
where torchvision cannot be imported the loading test is an expected failure that shows it and the
tests that need the loaded pipeline are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imaging.engine import diffusion, text
from imaging.engine.demo_models import is_demo_model
from imaging.engine.diffusion_compose import scene_preserve
from imaging.engine.model_choice import DiffusionModels
from imaging.engine.types import (
    ImageEditRequest,
    OperationCancelled,
)
from tests.imaging.engine.test_production_pipeline import (
    RecordingPipe,
    batch_edit_checked,
    photo,
    pipelines_recorded,
    pixels,
    step_progress,
    style_transfer_checked,
)
from tests.imaging.engine.tiny_flux2 import tiny_flux2_klein_build
from tests.imaging.engine.tiny_qwen_edit import (
    SPECIAL_TOKENS,
    TEMPLATE_PREFIX,
    tiny_qwen_image_edit_plus_build,
)

QWEN_EDIT_STEPS = 28  # the recipe's "standard" steps: edits always run them


def _torchvision_error() -> str | None:
    """Why torchvision cannot be imported here (a CUDA wheel on a CPU torch raises a
    RuntimeError, not an ImportError), or None."""
    try:
        import torchvision  # noqa: F401
    except Exception as error:  # any failure means transformers cannot use it either
        return f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"
    return None


TORCHVISION_ERROR = _torchvision_error()
NO_PROCESSOR = (
    "transformers 5.24 builds Qwen2VLProcessor's video processor (Qwen2VLVideoProcessor) with "
    f"torchvision, which cannot be imported here ({TORCHVISION_ERROR})"
)
needs_processor = pytest.mark.skipif(TORCHVISION_ERROR is not None, reason=NO_PROCESSOR)


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def qwen_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("production-qwen") / "tiny-qwen-image-edit-2511"
    return tiny_qwen_image_edit_plus_build(folder)


@pytest.fixture(scope="session")
def qwen_manager(
    qwen_folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> diffusion.ModelManager:
    """Every image operation on the tiny Qwen-Image-Edit folder. It cannot render from text
    alone (the pipeline needs an image), so text-to-image is the tiny FLUX.2 klein, never
    loaded here. Pipelines load on first use."""
    flux2 = tiny_flux2_klein_build(tmp_path_factory.mktemp("production-qwen") / "tiny-flux2")
    path = str(qwen_folder)
    return diffusion.ModelManager(
        DiffusionModels(
            text_to_image=str(flux2), image_edit=path, style_transfer=path, batch_edit=path
        ),
        device="cpu",
    )


@pytest.fixture
def record(qwen_manager: diffusion.ModelManager) -> Iterator[Callable[[str], RecordingPipe]]:
    """`record(operation)` wraps that operation's resident pipeline until the test ends."""
    with pipelines_recorded(qwen_manager) as install:
        yield install


# --- the saved folder ------------------------------------------------------------------------


def test_tiny_qwen_edit_folder_matches_what_the_pipeline_expects(qwen_folder):
    from diffusers import QwenImageEditPlusPipeline
    from transformers import AutoTokenizer

    assert not is_demo_model(qwen_folder)
    assert tiny_qwen_image_edit_plus_build(qwen_folder) == qwen_folder  # reused, not rebuilt
    index = json.loads((qwen_folder / "model_index.json").read_text())
    assert index["_class_name"] == "QwenImageEditPlusPipeline"
    assert index["processor"] == ["transformers", "Qwen2VLProcessor"]
    # The pipeline drops the hidden states of its system prompt by count: our tokenizer makes
    # that prompt exactly `prompt_template_encode_start_idx` tokens, as Qwen's does.
    bare = QwenImageEditPlusPipeline(None, None, None, None, None, None)
    assert bare.prompt_template_encode.startswith(TEMPLATE_PREFIX)
    tokenizer = AutoTokenizer.from_pretrained(qwen_folder / "processor")
    assert len(tokenizer(TEMPLATE_PREFIX).input_ids) == bare.prompt_template_encode_start_idx
    # The vision markers are single tokens whose ids the text encoder knows.
    config = json.loads((qwen_folder / "text_encoder" / "config.json").read_text())
    ids = dict(
        zip(SPECIAL_TOKENS, tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS)), strict=True)
    )
    assert config["vision_start_token_id"] == ids["<|vision_start|>"]
    assert config["vision_end_token_id"] == ids["<|vision_end|>"]
    assert config["image_token_id"] == ids["<|image_pad|>"]
    marker = "Picture 1: <|vision_start|><|image_pad|><|vision_end|>把天空"
    assert tokenizer.unk_token_id not in tokenizer(marker).input_ids
    assert tokenizer.decode(tokenizer(marker).input_ids) == marker


@pytest.mark.xfail(
    TORCHVISION_ERROR is not None,
    reason=NO_PROCESSOR,
    raises=(ImportError, RuntimeError),
    strict=True,
)
def test_tiny_qwen_edit_loads_as_the_production_edit_model(qwen_manager):
    edit_pipe = qwen_manager.pipeline("image_edit")
    assert type(edit_pipe.pipe).__name__ == "QwenImageEditPlusPipeline"
    assert type(edit_pipe.pipe.processor).__name__ == "Qwen2VLProcessor"
    assert edit_pipe.demo is False
    assert edit_pipe.recipe is diffusion._RECIPES["QwenImageEditPlusPipeline"]
    # A list of images and no strength: an instruction editor.
    assert edit_pipe.kind == "instruct"
    for operation in ("style_transfer", "batch_edit"):
        assert qwen_manager.pipeline(operation) is edit_pipe
    assert edit_pipe.pipe.text_encoder.device.type == "cpu"


# --- image edit ------------------------------------------------------------------------------


@needs_processor
def test_image_edit_runs_the_recipe_at_the_input_size(qwen_manager, record):
    recorder = record("image_edit")
    source = photo(48, 40)  # under 64 px and not a multiple of 16
    progress: list[int] = []
    result = diffusion.image_edit(
        ImageEditRequest(prompt="make it snowy", image=source, strength=1.0, seed=3),
        manager=qwen_manager,
        on_progress=progress.append,
    )
    (edited,) = result.images
    assert edited.size == source.size and edited.mode == "RGB"
    assert result.demo is False and result.seed == 3
    assert result.description == "Edited the image as instructed."
    (call,) = recorder.calls
    assert len(call["image"]) == 1 and min(call["image"][0].size) == 64
    # Scaled to 64 px on the short side for the model (77 x 64), rounded up to 16 px.
    assert (call["width"], call["height"]) == (80, 64)
    assert call["num_inference_steps"] == QWEN_EDIT_STEPS
    assert call["true_cfg_scale"] == 5.0  # 1 + 4 * strength
    assert "strength" not in call and "guidance_scale" not in call
    assert call["prompt"] == "make it snowy"
    assert recorder.outputs[0].size == (80, 64)
    assert progress == step_progress(QWEN_EDIT_STEPS)


@needs_processor
def test_image_edit_low_strength_mixes_the_edit_with_the_source(qwen_manager, record):
    recorder = record("image_edit")
    source = photo(64, 64)
    result = diffusion.image_edit(
        ImageEditRequest(prompt="add a moon", image=source, strength=0.2, seed=9),
        manager=qwen_manager,
    )
    (call,) = recorder.calls
    assert call["true_cfg_scale"] == pytest.approx(1.8)
    # Below 0.5 the edit keeps strength / 0.5 of the model's output over the source.
    raw = recorder.outputs[0].convert("RGB")
    expected = pixels(Image.blend(source, raw, 0.2 / 0.5))
    (edited,) = result.images
    assert edited.size == source.size and edited.mode == "RGB"
    assert np.abs(pixels(edited) - expected).max() <= 1
    change = np.abs(pixels(edited) - pixels(source)).mean()
    assert 0 < change < np.abs(pixels(raw) - pixels(source)).mean()


# QwenImageEditPlusPipeline only runs classifier-free guidance when it gets a negative prompt
# (`do_true_cfg = true_cfg_scale > 1 and has_neg_prompt`); without one it ignored the scale the
# engine maps strength to (this test found that).
@needs_processor
def test_image_edit_strength_reaches_the_model_as_guidance(qwen_manager, record):
    recorder = record("image_edit")
    transformer = qwen_manager.pipeline("image_edit").pipe.transformer
    passes: list[int] = []
    hook = transformer.register_forward_pre_hook(lambda module, args: passes.append(1))
    try:
        diffusion.image_edit(
            ImageEditRequest(prompt="add a moon", image=photo(64, 64), strength=1.0, seed=9),
            manager=qwen_manager,
        )
    finally:
        hook.remove()
    assert recorder.calls[0]["true_cfg_scale"] == 5.0
    # True CFG: a conditional and an unconditional transformer pass per step.
    assert len(passes) == 2 * QWEN_EDIT_STEPS


@needs_processor
def test_image_edit_chinese_prompt_preserve_scene(qwen_manager, record):
    recorder = record("image_edit")
    source = photo(64, 64)
    prompt = "把天空变成橙色"
    result = diffusion.image_edit(
        ImageEditRequest(prompt=prompt, image=source, strength=0.8, preserve_scene=True, seed=4),
        manager=qwen_manager,
    )
    (call,) = recorder.calls
    assert call["prompt"] == prompt + text.PRESERVE_SCENE["zh"]
    (edited,) = result.images
    assert edited.size == source.size and edited.mode == "RGB"
    assert result.description == "已按指令编辑图像。"  # no demo label
    assert result.demo is False and result.seed == 4
    raw = recorder.outputs[0].convert("RGB")
    assert np.array_equal(pixels(edited), pixels(scene_preserve(source, raw)))


@needs_processor
def test_image_edit_cancels_between_steps(qwen_manager):
    progress: list[int] = []
    with pytest.raises(OperationCancelled):
        diffusion.image_edit(
            ImageEditRequest(prompt="make it snowy", image=photo(64, 64), seed=1),
            manager=qwen_manager,
            on_progress=progress.append,
            should_cancel=lambda: len(progress) >= 2,  # after the first step
        )
    assert progress == step_progress(QWEN_EDIT_STEPS)[:2]
    assert qwen_manager.pipeline("image_edit").pipe.interrupt is True


# --- style transfer --------------------------------------------------------------------------


@needs_processor
def test_style_transfer_passes_the_style_image_second(qwen_manager, record):
    call = style_transfer_checked(qwen_manager, record("style_transfer"))
    assert call["true_cfg_scale"] == pytest.approx(1 + 4 * (0.15 + 0.45 * 0.7))
    assert call["progress"] == step_progress(QWEN_EDIT_STEPS)


# --- batch edit ------------------------------------------------------------------------------


@needs_processor
def test_batch_edit_gives_later_items_the_first_result_as_reference(qwen_manager, record):
    sources = (photo(64, 64), photo(80, 64))
    calls = batch_edit_checked(qwen_manager, record("batch_edit"), sources, steps=QWEN_EDIT_STEPS)
    for call in calls:
        assert call["true_cfg_scale"] == 4.0  # the batch strength, 0.75
        assert call["generator"].initial_seed() == 13
