"""The diffusion operations (text-to-image, image edit, style transfer, batch edit) and the model
manager that keeps their pipelines resident.
Details: docs/engine.md#diffusion-operations"""

from __future__ import annotations

import inspect
import math
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from core.operations import BATCH_MAX_IMAGES, Operation
from imaging.engine import shapes, text
from imaging.engine.demo_models import demo_models_build, is_demo_model
from imaging.engine.diffusion_compose import (
    center_crop,
    colour_stats,
    colour_transfer,
    colour_transfer_matched,
    demo_edit_compose,
    scene_preserve,
)
from imaging.engine.model_choice import (
    DiffusionModels,
    demo_needed,
    diffusion_models_choose,
    torch_device,
)
from imaging.engine.types import (
    BatchEditRequest,
    CancelCheck,
    EngineResult,
    ImageEditRequest,
    OperationCancelled,
    OperationFailed,
    ProgressCallback,
    StyleTransferRequest,
    TextToImageRequest,
)

PipelineKind = Literal["text", "img2img", "instruct"]

MAX_SIDE = 4096
# Instruction-edit models are trained around one megapixel; larger inputs are edited at that
# area and resized back.
_EDIT_AREA = 1024 * 1024


@dataclass(frozen=True)
class _Recipe:
    """How we drive one pipeline class: steps per quality, guidance, latent granularity."""

    steps: Mapping[str, int]
    guidance: Mapping[str, float | str]
    size_multiple: int


# Qwen-Image pipelines run true classifier-free guidance only when given a negative prompt;
# without one they ignore `true_cfg_scale` (and with it the edit strength). " " is the model
# card's.
_QWEN_CFG: dict[str, float | str] = {"true_cfg_scale": 4.0, "negative_prompt": " "}
_RECIPES: dict[str, _Recipe] = {
    "Flux2KleinPipeline": _Recipe({"standard": 4, "high": 8}, {"guidance_scale": 1.0}, 16),
    "ZImagePipeline": _Recipe({"standard": 9, "high": 14}, {"guidance_scale": 0.0}, 16),
    "QwenImagePipeline": _Recipe({"standard": 30, "high": 50}, _QWEN_CFG, 16),
    "QwenImageEditPlusPipeline": _Recipe({"standard": 28, "high": 40}, _QWEN_CFG, 16),
}
_SD_RECIPE = _Recipe({"standard": 30, "high": 50}, {"guidance_scale": 7.5}, 8)
# Random weights gain nothing from guidance or more steps: keep the demo fast.
_DEMO_RECIPE = _Recipe({"standard": 2, "high": 4}, {"guidance_scale": 1.0}, 8)


@dataclass
class LoadedPipeline:
    """One resident pipeline and what the operations need to know about it."""

    pipe: Any
    kind: PipelineKind
    recipe: _Recipe
    demo: bool
    model: str
    lock: threading.Lock = field(default_factory=threading.Lock)


class ModelManager:
    """Loads pipelines lazily (one per model id or path and kind) and keeps them resident.

    Image operations on a text-to-image folder share its weights through an img2img pipeline.
    Calls on one pipeline are serialised: a pipeline holds per-call state (interrupt flag, step
    count).
    """

    def __init__(
        self,
        models: DiffusionModels,
        *,
        device: str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        self.models = models
        self.device = device or torch_device()
        self.dtype = dtype or (torch.bfloat16 if self.device.startswith("cuda") else torch.float32)
        self._pipelines: dict[tuple[str, str], LoadedPipeline] = {}
        self._loading = threading.Lock()

    def pipeline(self, operation: Operation) -> LoadedPipeline:
        model = self.models.for_operation(operation)
        wanted = "text" if operation == Operation.TEXT_TO_IMAGE else "image"
        with self._loading:
            key = (model, wanted)
            if key not in self._pipelines:
                self._pipelines[key] = self._load(model, wanted)
            return self._pipelines[key]

    def preload(self, *operations: Operation) -> None:
        for operation in operations or (Operation.TEXT_TO_IMAGE, Operation.IMAGE_EDIT):
            self.pipeline(operation)

    def _load(self, model: str, wanted: str) -> LoadedPipeline:
        from diffusers import (
            AutoPipelineForImage2Image,
            AutoPipelineForText2Image,
            DiffusionPipeline,
        )

        base = self._pipelines.get((model, "text")) or self._pipelines.get((model, "image"))
        if base is not None:
            pipe = base.pipe
        else:
            pipe = DiffusionPipeline.from_pretrained(model, dtype=self.dtype)
            pipe.to(self.device)
            pipe.set_progress_bar_config(disable=True)
        kind = _pipeline_kind(pipe)
        # Whichever kind was loaded first, the other shares its weights through from_pipe.
        convert: type[AutoPipelineForImage2Image] | type[AutoPipelineForText2Image] | None = None
        if wanted == "image" and kind == "text":
            convert = AutoPipelineForImage2Image
        elif wanted == "text" and kind == "img2img":
            convert = AutoPipelineForText2Image
        if convert is not None:
            pipe = convert.from_pipe(pipe)
            pipe.set_progress_bar_config(disable=True)
            kind = _pipeline_kind(pipe)
        demo = is_demo_model(model)
        recipe = _DEMO_RECIPE if demo else _RECIPES.get(type(pipe).__name__, _SD_RECIPE)
        return LoadedPipeline(pipe=pipe, kind=kind, recipe=recipe, demo=demo, model=model)


def model_manager_from_settings(
    *, models: Mapping[str, str], cache_dir: str | os.PathLike[str]
) -> ModelManager:
    """A manager for the configured ids/paths; an operation left empty uses the demo models
    (built once under `cache_dir`)."""
    demo = demo_models_build(cache_dir).image_edit if demo_needed(models) else ""
    return ModelManager(diffusion_models_choose(models, demo=demo))


# --- operations ------------------------------------------------------------------------------


def text_to_image(
    request: TextToImageRequest,
    *,
    manager: ModelManager,
    on_progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> EngineResult:
    _check_prompt(request.prompt)
    _check_size(request.width, request.height)
    _check_cancel(should_cancel)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    loaded = manager.pipeline(Operation.TEXT_TO_IMAGE)
    timings["load"] = time.perf_counter() - started
    seed = _seed(request.seed)
    multiple = loaded.recipe.size_multiple
    width, height = _round_up(request.width, multiple), _round_up(request.height, multiple)
    steps = _Steps(on_progress, should_cancel)
    steps.report(0)
    started = time.perf_counter()
    with loaded.lock:
        output = loaded.pipe(
            prompt=text.styled_prompt(request.prompt, request.style),
            width=width,
            height=height,
            num_inference_steps=loaded.recipe.steps[request.quality],
            generator=_generator(seed),
            callback_on_step_end=steps,
            **loaded.recipe.guidance,
        )
    timings["inference"] = time.perf_counter() - started
    image = center_crop(output.images[0], request.width, request.height).convert("RGB")
    steps.report(100)
    return EngineResult(
        images=[image],
        description=text.description(
            "text_to_image", prompt=request.prompt, language=request.language, demo=loaded.demo
        ),
        seed=seed,
        timings=_rounded(timings),
        demo=loaded.demo,
    )


def image_edit(
    request: ImageEditRequest,
    *,
    manager: ModelManager,
    on_progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> EngineResult:
    _check_prompt(request.prompt)
    _check_cancel(should_cancel)
    source = request.image.convert("RGB")
    _check_size(*source.size)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    loaded = manager.pipeline(Operation.IMAGE_EDIT)
    timings["load"] = time.perf_counter() - started
    seed = _seed(request.seed)
    strength = _clamp(request.strength)
    steps = _Steps(on_progress, should_cancel)
    steps.report(0)
    started = time.perf_counter()
    edited = _edit(
        loaded,
        prompt=text.edit_prompt(request.prompt, preserve_scene=request.preserve_scene),
        image=source,
        strength=strength,
        seed=seed,
        callback=steps,
    )
    timings["inference"] = time.perf_counter() - started
    started = time.perf_counter()
    if loaded.demo:
        edited = demo_edit_compose(source, edited, strength=strength)
    if request.preserve_scene:
        edited = scene_preserve(source, edited)
    _check_changed(source, edited)
    timings["postprocess"] = time.perf_counter() - started
    steps.report(100)
    return EngineResult(
        images=[edited],
        description=text.description(
            "image_edit", prompt=request.prompt, language=request.language, demo=loaded.demo
        ),
        seed=seed,
        timings=_rounded(timings),
        demo=loaded.demo,
    )


def style_transfer(
    request: StyleTransferRequest,
    *,
    manager: ModelManager,
    on_progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> EngineResult:
    _check_cancel(should_cancel)
    content = request.content.convert("RGB")
    style = request.style.convert("RGB")
    _check_size(*content.size)
    _check_size(*style.size)
    strength = _clamp(request.strength)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    loaded = manager.pipeline(Operation.STYLE_TRANSFER)
    timings["load"] = time.perf_counter() - started
    seed = _seed(request.seed)
    steps = _Steps(on_progress, should_cancel)
    steps.report(0)
    started = time.perf_counter()
    target = colour_stats(content).toward(colour_stats(style), strength)
    recoloured = colour_transfer(content, target)
    timings["colour"] = time.perf_counter() - started
    started = time.perf_counter()
    styled = _edit(
        loaded,
        prompt=text.STYLE_TRANSFER_PROMPT,
        image=recoloured,
        references=[style],
        strength=0.15 + 0.45 * strength,
        seed=seed,
        callback=steps,
    )
    timings["inference"] = time.perf_counter() - started
    started = time.perf_counter()
    styled = colour_transfer(styled, target)
    _check_changed(content, styled)
    timings["postprocess"] = time.perf_counter() - started
    steps.report(100)
    return EngineResult(
        images=[styled],
        description=text.description("style_transfer", language=request.language, demo=loaded.demo),
        seed=seed,
        timings=_rounded(timings),
        demo=loaded.demo,
    )


def batch_edit(
    request: BatchEditRequest,
    *,
    manager: ModelManager,
    on_progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> EngineResult:
    _check_prompt(request.prompt)
    if not 1 <= len(request.images) <= BATCH_MAX_IMAGES:
        raise OperationFailed(f"A batch holds 1 to {BATCH_MAX_IMAGES} images.")
    _check_cancel(should_cancel)
    sources = [image.convert("RGB") for image in request.images]
    for source in sources:
        _check_size(*source.size)
    timings: dict[str, float] = {"load": 0.0, "inference": 0.0, "postprocess": 0.0}
    started = time.perf_counter()
    loaded = manager.pipeline(Operation.BATCH_EDIT)
    timings["load"] = time.perf_counter() - started
    seed = _seed(request.seed)
    share = _LatentStatistics(
        until=1.0 if request.style_consistency else 0.5,
        enabled=request.preserve_character or request.style_consistency,
    )
    results: list[Image.Image] = []
    reference_stats = None
    count = len(sources)
    _Steps(on_progress, should_cancel).report(0)
    for index, source in enumerate(sources):
        steps = _Steps(
            on_progress,
            should_cancel,
            start=100 * index / count,
            end=100 * (index + 1) / count,
            latents_hook=share.record if index == 0 else share.apply,
        )
        references, prompt = [], request.prompt
        if index > 0 and request.preserve_character and loaded.kind == "instruct":
            references, prompt = [results[0]], text.character_prompt(request.prompt)
        started = time.perf_counter()
        edited = _edit(
            loaded,
            prompt=prompt,
            image=source,
            references=references,
            strength=_BATCH_STRENGTH,
            seed=seed,
            callback=steps,
        )
        timings["inference"] += time.perf_counter() - started
        started = time.perf_counter()
        if loaded.demo:
            edited = demo_edit_compose(source, edited, strength=_BATCH_STRENGTH)
        if request.style_consistency:
            if reference_stats is None:
                reference_stats = colour_stats(edited)
            else:
                edited = colour_transfer_matched(edited, reference_stats)
        _check_changed(source, edited)
        timings["postprocess"] += time.perf_counter() - started
        results.append(edited)
    steps.report(100)  # the last item's reporter: 100 once, even when its last step said so
    return EngineResult(
        images=results,
        description=text.description(
            "batch_edit",
            prompt=request.prompt,
            language=request.language,
            demo=loaded.demo,
            count=count,
        ),
        seed=seed,
        timings=_rounded(timings),
        demo=loaded.demo,
    )


# The batch request carries no strength: a decisive edit that keeps the subject recognisable.
_BATCH_STRENGTH = 0.75


# --- pipeline driving ------------------------------------------------------------------------


class _Steps:
    """`callback_on_step_end`: real per-step progress, cancellation, and an optional hook on the
    latents (batch consistency)."""

    def __init__(
        self,
        on_progress: ProgressCallback | None,
        should_cancel: CancelCheck | None,
        *,
        start: float = 0.0,
        end: float = 100.0,
        latents_hook: Callable[[int, int, torch.Tensor], torch.Tensor | None] | None = None,
    ) -> None:
        self.on_progress = on_progress
        self.should_cancel = should_cancel
        self.start, self.end = start, end
        self.latents_hook = latents_hook
        self.tensor_inputs = ["latents"] if latents_hook else None
        self._last = -1

    def report(self, percent: float) -> None:
        value = int(percent)
        if self.on_progress is not None and value > self._last:
            self._last = value
            self.on_progress(value)

    def __call__(self, pipe: Any, step: int, timestep: Any, tensors: dict) -> dict:
        if self.should_cancel is not None and self.should_cancel():
            pipe._interrupt = True  # stops the loop should the exception be swallowed
            raise OperationCancelled()
        total = max(int(pipe.num_timesteps), 1)
        self.report(self.start + (self.end - self.start) * (step + 1) / total)
        if self.latents_hook is not None and "latents" in tensors:
            latents = self.latents_hook(step, total, tensors["latents"])
            if latents is not None:
                return {"latents": latents}
        return {}


class _LatentStatistics:
    """Shares per-channel latent statistics from a batch's first item to the others, step by
    step (AdaIN on the latents): colour, tone and texture statistics follow the reference while
    each item keeps its own content."""

    def __init__(self, *, until: float, enabled: bool) -> None:
        self.until = until
        self.enabled = enabled
        self.reference: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def record(self, step: int, total: int, latents: torch.Tensor) -> None:
        if self.enabled:
            self.reference[step] = _channel_stats(latents)

    def apply(self, step: int, total: int, latents: torch.Tensor) -> torch.Tensor | None:
        if not self.enabled or step not in self.reference or (step + 1) / total > self.until:
            return None
        ref_mean, ref_std = self.reference[step]
        mean, std = _channel_stats(latents)
        if mean.shape != ref_mean.shape:
            return None
        return (latents - mean) / std * ref_std + ref_mean


def _channel_stats(latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # (B, C, H, W) for UNet latents; (B, tokens, C) for packed transformer latents.
    dims = (2, 3) if latents.ndim == 4 else (1,)
    return (
        latents.mean(dim=dims, keepdim=True),
        latents.std(dim=dims, keepdim=True).clamp_min(1e-5),
    )


def _edit(
    loaded: LoadedPipeline,
    *,
    prompt: str,
    image: Image.Image,
    strength: float,
    seed: int,
    callback: _Steps,
    references: list[Image.Image] | None = None,
) -> Image.Image:
    """One image-conditioned generation, returned at the input's size."""
    recipe = loaded.recipe
    common: dict[str, Any] = {
        "prompt": prompt,
        "generator": _generator(seed),
        "callback_on_step_end": callback,
        **recipe.guidance,
    }
    if callback.tensor_inputs:
        common["callback_on_step_end_tensor_inputs"] = callback.tensor_inputs
    base_steps = recipe.steps["standard"]
    if loaded.kind == "img2img":
        width = _round_up(image.width, recipe.size_multiple)
        height = _round_up(image.height, recipe.size_multiple)
        init = image if image.size == (width, height) else image.resize((width, height))
        with loaded.lock:
            output = loaded.pipe(
                image=init,
                strength=strength,
                num_inference_steps=math.ceil(base_steps / strength),
                **common,
            )
    elif loaded.kind == "instruct":
        inputs = [_instruct_input(item) for item in (image, *(references or []))]
        width, height = _edit_size(inputs[0], recipe.size_multiple)
        if "true_cfg_scale" in common:
            common["true_cfg_scale"] = 1.0 + 4.0 * strength
        with loaded.lock:
            output = loaded.pipe(
                image=inputs,
                num_inference_steps=base_steps,
                width=width,
                height=height,
                **common,
            )
    else:
        raise OperationFailed("The configured model cannot edit images.")
    edited = output.images[0].convert("RGB")
    if edited.size != image.size:
        edited = edited.resize(image.size, Image.Resampling.LANCZOS)
    if loaded.kind == "instruct" and strength < 0.5:
        edited = Image.blend(image, edited, strength / 0.5)
    return edited


def _instruct_input(image: Image.Image) -> Image.Image:
    """An input image as FLUX.2 klein's image processor takes it (see imaging.engine.shapes):
    small ones are scaled up for the model and the result scaled back."""
    if not shapes.aspect_ratio_accepted(width=image.width, height=image.height):
        # The submit path refuses these first; this guards callers of the engine alone.
        raise OperationFailed(
            f"Images more than {shapes.MAX_ASPECT_RATIO} times as long as wide cannot be edited."
        )
    short = min(image.size)
    if short >= shapes.MIN_SIDE:
        return image
    scale = shapes.MIN_SIDE / short
    size = (math.ceil(image.width * scale), math.ceil(image.height * scale))
    return image.resize(size, Image.Resampling.LANCZOS)


def _pipeline_kind(pipe: Any) -> PipelineKind:
    parameters = inspect.signature(pipe.__call__).parameters
    if "strength" in parameters and "image" in parameters:
        return "img2img"
    if "image" in parameters:
        return "instruct"
    return "text"


def _edit_size(image: Image.Image, multiple: int) -> tuple[int, int]:
    scale = min(1.0, math.sqrt(_EDIT_AREA / (image.width * image.height)))
    return (
        _round_up(max(multiple, round(image.width * scale)), multiple),
        _round_up(max(multiple, round(image.height * scale)), multiple),
    )


# --- small rules -----------------------------------------------------------------------------


def _seed(seed: int | None) -> int:
    return secrets.randbelow(2**32) if seed is None else int(seed) % 2**64


def _generator(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(seed)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _clamp(strength: float) -> float:
    return min(1.0, max(0.1, float(strength)))


def _rounded(timings: dict[str, float]) -> dict[str, float]:
    return {name: round(seconds, 4) for name, seconds in timings.items()}


def _check_prompt(prompt: str) -> None:
    if not prompt or not prompt.strip():
        raise OperationFailed("The prompt is empty.")


def _check_size(width: int, height: int) -> None:
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise OperationFailed(f"Width and height must be between 1 and {MAX_SIDE} pixels.")


def _check_cancel(should_cancel: CancelCheck | None) -> None:
    if should_cancel is not None and should_cancel():
        raise OperationCancelled()


def _check_changed(source: Image.Image, result: Image.Image) -> None:
    if result.size == source.size and np.array_equal(np.asarray(result), np.asarray(source)):
        raise OperationFailed("The model returned the image unchanged.")
