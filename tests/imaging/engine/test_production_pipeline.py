"""The engine's production path on a tiny random-weight FLUX.2 klein (`Flux2KleinPipeline`).

The folder is built with the real diffusers/transformers classes, saved, loaded back by
`ModelManager` through `from_pretrained` and driven with the `Flux2KleinPipeline` recipe (it is not
a demo model). The only test double is a pass-through wrapper around the pipeline's `__call__`
that records the arguments the engine passes and the raw output it gets back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from imaging.engine import diffusion, text
from imaging.engine.demo_models import is_demo_model
from imaging.engine.diffusion_compose import scene_preserve
from imaging.engine.model_choice import DiffusionModels
from imaging.engine.types import (
    BatchEditRequest,
    ImageEditRequest,
    OperationCancelled,
    OperationFailed,
    StyleTransferRequest,
    TextToImageRequest,
)
from tests.imaging.engine.tiny_flux2 import TEXT_LAYERS, tiny_flux2_klein_build

FLUX2_STEPS = {"standard": 4, "high": 8}


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def flux2_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_flux2_klein_build(tmp_path_factory.mktemp("production") / "tiny-flux2-klein")


@pytest.fixture(scope="session")
def flux2_manager(flux2_folder: Path) -> diffusion.ModelManager:
    """Every operation on the tiny FLUX.2 klein folder; both pipelines loaded up front (they
    share one set of weights)."""
    path = str(flux2_folder)
    manager = diffusion.ModelManager(
        DiffusionModels(text_to_image=path, image_edit=path, style_transfer=path, batch_edit=path),
        device="cpu",
    )
    manager.preload("text_to_image", "image_edit")
    return manager


class RecordingPipe:
    """Forwards each call to the real pipeline, keeping its keyword arguments and raw image."""

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self.calls: list[dict[str, Any]] = []
        self.outputs: list[Image.Image] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        output = self.pipe(**kwargs)
        self.outputs.append(output.images[0])
        return output

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipe, name)


@contextmanager
def pipelines_recorded(
    manager: diffusion.ModelManager,
) -> Iterator[Callable[[str], RecordingPipe]]:
    """`install(operation)` wraps that operation's resident pipeline until the block ends."""
    wrapped: list[tuple[diffusion.LoadedPipeline, Any]] = []

    def install(operation: str) -> RecordingPipe:
        loaded = manager.pipeline(operation)
        recorder = RecordingPipe(loaded.pipe)
        wrapped.append((loaded, loaded.pipe))
        loaded.pipe = recorder
        return recorder

    try:
        yield install
    finally:
        for loaded, pipe in reversed(wrapped):
            loaded.pipe = pipe


@pytest.fixture
def record(flux2_manager: diffusion.ModelManager) -> Iterator[Callable[[str], RecordingPipe]]:
    """`record(operation)` wraps that operation's resident pipeline until the test ends."""
    with pipelines_recorded(flux2_manager) as install:
        yield install


def photo(width: int = 64, height: int = 64) -> Image.Image:
    """A smooth test picture: a gradient sky over a green field with a red square."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.zeros((height, width, 3))
    rgb[..., 0] = 60 + 80 * x / width
    rgb[..., 1] = np.where(y > height // 2, 150, 120)
    rgb[..., 2] = np.where(y > height // 2, 60, 200)
    rgb[height // 4 : height // 2, width // 3 : width // 2] = (210, 40, 40)
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


def step_progress(steps: int) -> list[int]:
    """What one operation of `steps` denoising steps reports: 0, each step, 100."""
    return [0, *(int(100 * (step + 1) / steps) for step in range(steps))]


# --- loading ---------------------------------------------------------------------------------


def test_tiny_flux2_klein_loads_as_a_production_model(flux2_folder, flux2_manager):
    assert not is_demo_model(flux2_folder)
    assert tiny_flux2_klein_build(flux2_folder) == flux2_folder  # reused, not rebuilt
    text_pipe = flux2_manager.pipeline("text_to_image")
    edit_pipe = flux2_manager.pipeline("image_edit")
    assert type(text_pipe.pipe).__name__ == "Flux2KleinPipeline"
    assert text_pipe.demo is False and edit_pipe.demo is False
    assert text_pipe.recipe is diffusion._RECIPES["Flux2KleinPipeline"]
    assert edit_pipe.recipe is diffusion._RECIPES["Flux2KleinPipeline"]
    # FLUX.2 klein takes reference images and no strength: an instruction editor.
    assert edit_pipe.kind == "instruct"
    assert edit_pipe.pipe is text_pipe.pipe  # one copy of the weights
    for operation in ("style_transfer", "batch_edit"):
        assert flux2_manager.pipeline(operation) is edit_pipe
    # What the saved components must provide for the pipeline's prompt encoding.
    assert text_pipe.pipe.tokenizer.chat_template
    assert text_pipe.pipe.text_encoder.config.num_hidden_layers == TEXT_LAYERS
    assert text_pipe.pipe.text_encoder.device.type == "cpu"


# --- text to image ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "quality"), [(64, 64, "standard"), (40, 24, "high"), (80, 48, "standard")]
)
def test_text_to_image_renders_exactly_the_requested_size(
    flux2_manager, record, width, height, quality
):
    recorder = record("text_to_image")
    progress: list[int] = []
    result = diffusion.text_to_image(
        TextToImageRequest(
            prompt="a red fox", width=width, height=height, quality=quality, seed=11
        ),
        manager=flux2_manager,
        on_progress=progress.append,
    )
    (image,) = result.images
    assert image.size == (width, height) and image.mode == "RGB"
    assert result.demo is False and result.seed == 11
    assert result.description == "Generated an image from the prompt."
    # The recipe: 16 px granularity, steps per quality, guidance 1.0, no reference image.
    (call,) = recorder.calls
    assert (call["width"], call["height"]) == (-(-width // 16) * 16, -(-height // 16) * 16)
    assert call["num_inference_steps"] == FLUX2_STEPS[quality]
    assert call["guidance_scale"] == 1.0 and "image" not in call
    assert call["prompt"] == text.styled_prompt("a red fox", "realistic")
    assert progress == step_progress(FLUX2_STEPS[quality])


def test_text_to_image_is_deterministic_per_seed(flux2_manager):
    def render(seed: int) -> np.ndarray:
        request = TextToImageRequest(prompt="一只红狐狸", width=32, height=32, seed=seed)
        result = diffusion.text_to_image(request, manager=flux2_manager)
        assert result.description == "已根据提示生成图像。"  # no demo label
        return pixels(result.images[0])

    first = render(5)
    assert np.array_equal(first, render(5))
    assert not np.array_equal(first, render(6))


def test_text_to_image_without_seed_returns_the_one_it_drew(flux2_manager):
    result = diffusion.text_to_image(
        TextToImageRequest(prompt="a lighthouse", width=32, height=32), manager=flux2_manager
    )
    again = diffusion.text_to_image(
        TextToImageRequest(prompt="a lighthouse", width=32, height=32, seed=result.seed),
        manager=flux2_manager,
    )
    assert isinstance(result.seed, int)
    assert np.array_equal(pixels(result.images[0]), pixels(again.images[0]))


def test_text_to_image_cancels_between_steps_and_the_pipeline_recovers(flux2_manager):
    progress: list[int] = []
    with pytest.raises(OperationCancelled):
        diffusion.text_to_image(
            TextToImageRequest(prompt="a boat", width=32, height=32, seed=1),
            manager=flux2_manager,
            on_progress=progress.append,
            should_cancel=lambda: len(progress) >= 2,  # after the first step
        )
    assert progress == [0, 25]
    assert flux2_manager.pipeline("text_to_image").pipe.interrupt is True
    # The interrupt flag belongs to that call only: the next one runs every step.
    progress.clear()
    diffusion.text_to_image(
        TextToImageRequest(prompt="a boat", width=32, height=32, seed=1),
        manager=flux2_manager,
        on_progress=progress.append,
    )
    assert progress == step_progress(4)


# --- image edit ------------------------------------------------------------------------------


def test_image_edit_runs_the_instruction_pipeline_at_the_input_size(flux2_manager, record):
    recorder = record("image_edit")
    source = photo(80, 72)  # not a multiple of 16
    progress: list[int] = []
    result = diffusion.image_edit(
        ImageEditRequest(prompt="make it snowy", image=source, strength=0.9, seed=3),
        manager=flux2_manager,
        on_progress=progress.append,
    )
    (edited,) = result.images
    assert edited.size == source.size and edited.mode == "RGB"
    assert result.demo is False and result.seed == 3
    assert result.description == "Edited the image as instructed."
    (call,) = recorder.calls
    assert len(call["image"]) == 1 and call["image"][0].size == source.size
    assert (call["width"], call["height"]) == (80, 80)  # rounded up to 16 px
    assert call["num_inference_steps"] == 4 and call["guidance_scale"] == 1.0
    assert "strength" not in call and "true_cfg_scale" not in call
    assert call["prompt"] == "make it snowy"
    assert progress == step_progress(4)


def test_image_edit_low_strength_mixes_the_edit_with_the_source(flux2_manager, record):
    recorder = record("image_edit")
    source = photo(64, 64)

    def edit(strength: float) -> Image.Image:
        request = ImageEditRequest(prompt="add a moon", image=source, strength=strength, seed=9)
        return diffusion.image_edit(request, manager=flux2_manager).images[0]

    low, high = edit(0.2), edit(1.0)
    # The pipeline has no strength: both calls produce the same edit...
    assert np.array_equal(pixels(recorder.outputs[0]), pixels(recorder.outputs[1]))
    assert np.array_equal(pixels(high), pixels(recorder.outputs[1]))
    # ...and a low strength keeps strength / 0.5 of it over the source.
    expected = pixels(Image.blend(source, high, 0.2 / 0.5))
    assert np.abs(pixels(low) - expected).max() <= 1
    change_low = np.abs(pixels(low) - pixels(source)).mean()
    change_high = np.abs(pixels(high) - pixels(source)).mean()
    assert 0 < change_low < change_high


@pytest.mark.parametrize(
    ("prompt", "wording", "description"),
    [
        ("make the sky orange", text.PRESERVE_SCENE["en"], "Edited the image as instructed."),
        ("把天空变成橙色", text.PRESERVE_SCENE["zh"], "已按指令编辑图像。"),
    ],
)
def test_image_edit_preserve_scene_asks_for_it_and_pastes_the_scene_back(
    flux2_manager, record, prompt, wording, description
):
    recorder = record("image_edit")
    source = photo(64, 64)
    result = diffusion.image_edit(
        ImageEditRequest(prompt=prompt, image=source, strength=0.8, preserve_scene=True, seed=4),
        manager=flux2_manager,
    )
    (call,) = recorder.calls
    assert call["prompt"].startswith(prompt) and call["prompt"].endswith(wording)
    (edited,) = result.images
    assert edited.size == source.size and edited.mode == "RGB"
    assert result.description == description
    raw = recorder.outputs[0].convert("RGB")
    assert np.array_equal(pixels(edited), pixels(scene_preserve(source, raw)))


# FLUX.2 klein's image processor rejects input images under 64 px a side or beyond 8:1
# (`Flux2ImageProcessor.check_image_input`, a bare ValueError): the engine scales small ones up
# for the model and refuses extreme ones with a clear OperationFailed.
def test_a_small_image_is_scaled_up_for_the_model_and_back(flux2_manager, record):
    recorder = record("image_edit")
    source = photo(48, 40)
    result = diffusion.image_edit(
        ImageEditRequest(prompt="make it snowy", image=source, strength=0.9, seed=3),
        manager=flux2_manager,
    )
    assert result.images[0].size == source.size
    (call,) = recorder.calls
    assert min(call["image"][0].size) == 64


def test_an_extreme_aspect_ratio_is_refused_clearly(flux2_manager):
    with pytest.raises(OperationFailed, match="8 times as long as wide"):
        diffusion.image_edit(
            ImageEditRequest(prompt="make it snowy", image=photo(600, 64), seed=3),
            manager=flux2_manager,
        )


def test_a_small_style_image_is_a_usable_reference(flux2_manager):
    result = diffusion.style_transfer(
        StyleTransferRequest(content=photo(64, 64), style=photo(20, 30), seed=4),
        manager=flux2_manager,
    )
    assert result.images[0].size == (64, 64)


# --- style transfer --------------------------------------------------------------------------


def style_transfer_checked(manager: diffusion.ModelManager, recorder: RecordingPipe) -> dict:
    """Run a style transfer (strength 0.7) and check what any instruction pipeline must get and
    give: the content first and the style second, unchanged; the style prompt; the content's
    size back. Returns the pipeline's call, with `progress` added."""
    content, style = photo(64, 80), photo(96, 64).transpose(Image.Transpose.ROTATE_180)
    progress: list[int] = []
    result = diffusion.style_transfer(
        StyleTransferRequest(content=content, style=style, strength=0.7, seed=21),
        manager=manager,
        on_progress=progress.append,
    )
    (styled,) = result.images
    assert styled.size == content.size and styled.mode == "RGB"
    assert result.demo is False and result.seed == 21
    (call,) = recorder.calls
    assert [image.size for image in call["image"]] == [content.size, style.size]
    assert np.array_equal(pixels(call["image"][1]), pixels(style))
    assert call["prompt"] == text.STYLE_TRANSFER_PROMPT
    assert (call["width"], call["height"]) == (64, 80)
    return {**call, "progress": progress}


def test_style_transfer_passes_the_style_image_as_a_reference(flux2_manager, record):
    call = style_transfer_checked(flux2_manager, record("style_transfer"))
    assert call["progress"] == step_progress(4)


# --- batch edit ------------------------------------------------------------------------------


def batch_edit_checked(
    manager: diffusion.ModelManager,
    recorder: RecordingPipe,
    sources: tuple[Image.Image, ...],
    *,
    steps: int,
) -> list[dict]:
    """Run a batch edit with `preserve_character` (seed 13) and check what any instruction
    pipeline must get and give: each source first and unchanged, the first result as the later
    items' reference with the character prompt, the latents asked for, every size back, and
    progress 0, each step of each item once, 100. Returns the pipeline's calls."""
    progress: list[int] = []
    result = diffusion.batch_edit(
        BatchEditRequest(prompt="give them hats", images=sources, preserve_character=True, seed=13),
        manager=manager,
        on_progress=progress.append,
    )
    assert [image.size for image in result.images] == [source.size for source in sources]
    assert all(image.mode == "RGB" for image in result.images)
    assert result.demo is False and result.seed == 13
    assert result.description == f"Edited {len(sources)} images with one prompt."
    calls = recorder.calls
    assert [len(call["image"]) for call in calls] == [1] + [2] * (len(sources) - 1)
    for call, source in zip(calls, sources, strict=True):
        assert np.array_equal(pixels(call["image"][0]), pixels(source))
        # Latent statistics are shared step by step: the engine asks for the latents.
        assert call["callback_on_step_end_tensor_inputs"] == ["latents"]
    for call in calls[1:]:
        assert call["image"][1] is result.images[0]
        assert call["prompt"] == text.character_prompt("give them hats")
    assert calls[0]["prompt"] == "give them hats"
    assert progress[0] == 0 and progress[-1] == 100 and progress == sorted(set(progress))
    assert len(progress) == 1 + len(sources) * steps
    return calls


def test_batch_edit_gives_later_items_the_first_result_as_reference(flux2_manager, record):
    sources = (photo(64, 64), photo(80, 64), photo(64, 96))
    batch_edit_checked(flux2_manager, record("batch_edit"), sources, steps=4)


def test_batch_edit_cancels_midway(flux2_manager):
    progress: list[int] = []
    with pytest.raises(OperationCancelled):
        diffusion.batch_edit(
            BatchEditRequest(prompt="give them hats", images=(photo(), photo()), seed=2),
            manager=flux2_manager,
            on_progress=progress.append,
            should_cancel=lambda: bool(progress) and progress[-1] >= 50,
        )
    assert progress == [0, 12, 25, 37, 50]
