# ruff: noqa: RUF001
# (Chinese text uses full-width punctuation on purpose.)
"""The diffusion operations on the tiny demo models: sizes, determinism, progress, cancellation,
edit strength and scene preservation, colour statistics of style transfer, batch consistency."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imaging.engine import diffusion
from imaging.engine.demo_models import demo_models_build, is_demo_model
from imaging.engine.diffusion_compose import colour_stats, rgb_to_lab
from imaging.engine.types import (
    BatchEditRequest,
    ImageEditRequest,
    OperationCancelled,
    OperationFailed,
    StyleTransferRequest,
    TextToImageRequest,
)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


def photo(width: int = 128, height: int = 96) -> Image.Image:
    """A smooth test picture: a bluish gradient sky over a green field with a red square."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.zeros((height, width, 3))
    rgb[..., 0] = 60 + 80 * x / width
    rgb[..., 1] = np.where(y > height // 2, 150, 120)
    rgb[..., 2] = np.where(y > height // 2, 60, 200)
    rgb[height // 4 : height // 2, width // 3 : width // 2] = (210, 40, 40)
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


def lab_mean_distance(a: Image.Image, b: Image.Image) -> float:
    return float(np.linalg.norm(colour_stats(a).mean - colour_stats(b).mean))


# --- models ------------------------------------------------------------------------------------


def test_demo_models_are_saved_to_disk_and_loaded_back_with_from_pretrained(
    demo_models, diffusion_manager
):
    loaded = diffusion_manager.pipeline("text_to_image")
    assert is_demo_model(demo_models.text_to_image)
    assert type(loaded.pipe).__name__ == "StableDiffusionPipeline"
    assert loaded.demo
    assert loaded.pipe.unet.device.type == "cpu" and loaded.pipe.unet.dtype.is_floating_point


def test_building_the_demo_models_twice_reuses_the_folder(demo_models):
    cache_dir = Path(demo_models.text_to_image).parent
    folders = sorted(p.name for p in cache_dir.iterdir())
    again = demo_models_build(cache_dir)
    assert again == demo_models
    assert sorted(p.name for p in cache_dir.iterdir()) == folders


def test_image_operations_share_the_text_to_image_weights(diffusion_manager):
    text = diffusion_manager.pipeline("text_to_image")
    edit = diffusion_manager.pipeline("image_edit")
    assert type(edit.pipe).__name__ == "StableDiffusionImg2ImgPipeline"
    assert edit.pipe.unet is text.pipe.unet
    assert diffusion_manager.pipeline("batch_edit") is edit


def test_text_to_image_after_an_edit_loaded_first_gets_a_text_pipeline(demo_models):
    """A fresh worker whose first job is an edit, then a generation (found by the reference
    examples over HTTP: the generation was handed the img2img pipeline)."""
    manager = diffusion.ModelManager(demo_models, device="cpu")
    edit = manager.pipeline("image_edit")
    text = manager.pipeline("text_to_image")
    assert type(text.pipe).__name__ == "StableDiffusionPipeline"
    assert text.pipe.unet is edit.pipe.unet
    request = TextToImageRequest(prompt="a lighthouse", width=64, height=64, seed=1)
    [image] = diffusion.text_to_image(request, manager=manager).images
    assert image.size == (64, 64)


def test_settings_with_empty_ids_fall_back_to_the_demo_models(tmp_path):
    manager = diffusion.model_manager_from_settings(
        models={"text_to_image": "", "image_edit": ""}, cache_dir=tmp_path
    )
    assert is_demo_model(manager.models.text_to_image)
    assert manager.models.for_operation("style_transfer") == manager.models.image_edit


# --- text to image -----------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(96, 64), (100, 70), (768, 512)])
def test_text_to_image_returns_exactly_the_requested_size_in_rgb(diffusion_manager, width, height):
    request = TextToImageRequest(prompt="a lighthouse", width=width, height=height, seed=1)
    result = diffusion.text_to_image(request, manager=diffusion_manager)
    [image] = result.images
    assert image.size == (width, height)
    assert image.mode == "RGB"
    assert pixels(image).std() > 1.0  # not a flat placeholder
    assert result.demo and "(demo model)" in result.description
    assert result.seed == 1
    assert result.timings["inference"] > 0


def test_the_same_seed_gives_identical_pixels_and_another_seed_different(diffusion_manager):
    def run(seed):
        request = TextToImageRequest(prompt="a red fox", width=64, height=64, seed=seed)
        return pixels(diffusion.text_to_image(request, manager=diffusion_manager).images[0])

    first, again, other = run(7), run(7), run(8)
    assert np.array_equal(first, again)
    assert np.abs(first - other).mean() > 1.0


def test_a_request_without_seed_reports_the_seed_it_used(diffusion_manager):
    request = TextToImageRequest(prompt="a red fox", width=64, height=64)
    result = diffusion.text_to_image(request, manager=diffusion_manager)
    again = TextToImageRequest(prompt="a red fox", width=64, height=64, seed=result.seed)
    replay = diffusion.text_to_image(again, manager=diffusion_manager)
    assert np.array_equal(pixels(result.images[0]), pixels(replay.images[0]))


def test_style_and_quality_change_the_prompt_and_the_step_count(diffusion_manager):
    seen = []

    def record(percent):
        seen.append(percent)

    base = {"prompt": "a castle", "width": 64, "height": 64, "seed": 3}
    standard = diffusion.text_to_image(
        TextToImageRequest(**base, style="realistic"), manager=diffusion_manager
    )
    anime = diffusion.text_to_image(
        TextToImageRequest(**base, style="anime"), manager=diffusion_manager
    )
    diffusion.text_to_image(
        TextToImageRequest(**base, quality="high"), manager=diffusion_manager, on_progress=record
    )
    assert not np.array_equal(pixels(standard.images[0]), pixels(anime.images[0]))
    assert seen == [0, 25, 50, 75, 100]  # four real steps for "high", two for "standard"


def test_progress_rises_monotonically_from_0_to_100_with_the_real_steps(diffusion_manager):
    seen: list[int] = []
    request = TextToImageRequest(prompt="a boat", width=64, height=64, seed=1)
    diffusion.text_to_image(request, manager=diffusion_manager, on_progress=seen.append)
    assert seen == [0, 50, 100]


def test_cancellation_between_steps_raises_and_interrupts_the_pipeline(diffusion_manager):
    seen: list[int] = []
    request = TextToImageRequest(prompt="a boat", width=64, height=64, seed=1, quality="high")
    with pytest.raises(OperationCancelled):
        diffusion.text_to_image(
            request,
            manager=diffusion_manager,
            on_progress=seen.append,
            should_cancel=lambda: len(seen) >= 2,  # after the first step
        )
    assert seen == [0, 25]
    assert diffusion_manager.pipeline("text_to_image").pipe.interrupt is True


def test_an_empty_prompt_fails_with_a_message_for_the_client(diffusion_manager):
    with pytest.raises(OperationFailed, match="prompt"):
        diffusion.text_to_image(TextToImageRequest(prompt="  "), manager=diffusion_manager)


def test_a_chinese_prompt_works_and_gets_a_chinese_description(diffusion_manager):
    request = TextToImageRequest(prompt="一只在雪地里的橘猫，油画", width=64, height=64, seed=1)
    result = diffusion.text_to_image(request, manager=diffusion_manager)
    assert result.images[0].size == (64, 64)
    assert result.description == "已根据提示生成图像（演示模型）。"
    english = diffusion.text_to_image(
        TextToImageRequest(prompt="an orange cat", width=64, height=64, seed=1),
        manager=diffusion_manager,
    )
    assert english.description == "Generated an image from the prompt (demo model)."


# --- image edit --------------------------------------------------------------------------------


def test_image_edit_keeps_the_input_size_and_changes_the_image(diffusion_manager):
    source = photo(120, 90)  # not a multiple of 8
    seen: list[int] = []
    result = diffusion.image_edit(
        ImageEditRequest(prompt="make it winter", image=source, strength=0.6, seed=2),
        manager=diffusion_manager,
        on_progress=seen.append,
    )
    [edited] = result.images
    assert edited.size == source.size and edited.mode == "RGB"
    assert np.abs(pixels(edited) - pixels(source)).mean() > 1.0
    assert seen[0] == 0 and seen[-1] == 100 and seen == sorted(seen)
    assert result.description == "Edited the image as instructed (demo model)."


def test_image_edit_strength_maps_to_img2img_strength_with_the_same_real_steps(
    diffusion_manager,
):
    steps_seen = {}
    for strength in (0.1, 1.0):
        seen: list[int] = []
        diffusion.image_edit(
            ImageEditRequest(prompt="a hat", image=photo(), strength=strength, seed=2),
            manager=diffusion_manager,
            on_progress=seen.append,
        )
        steps_seen[strength] = seen
    # ceil(2 / strength) scheduled steps, of which img2img runs the last two either way.
    assert steps_seen[0.1] == steps_seen[1.0] == [0, 50, 100]


def test_preserve_scene_keeps_more_of_the_original(diffusion_manager):
    source = photo(128, 96)

    def difference(preserve_scene):
        request = ImageEditRequest(
            prompt="add a hat", image=source, strength=0.7, preserve_scene=preserve_scene, seed=4
        )
        edited = diffusion.image_edit(request, manager=diffusion_manager).images[0]
        assert edited.size == source.size
        return np.abs(pixels(edited) - pixels(source)).mean(), edited

    free, _ = difference(False)
    preserved, edited = difference(True)
    assert preserved < free
    assert preserved > 0  # still an edit, not the input returned
    untouched = np.all(pixels(edited) == pixels(source), axis=-1).mean()
    assert untouched > 0.2  # the unchanged part of the scene is the original's pixels


def test_image_edit_with_a_chinese_prompt_answers_in_chinese(diffusion_manager):
    result = diffusion.image_edit(
        ImageEditRequest(prompt="给人物戴上帽子", image=photo(), seed=1),
        manager=diffusion_manager,
    )
    assert result.description == "已按指令编辑图像（演示模型）。"


# --- style transfer ----------------------------------------------------------------------------


def test_style_transfer_moves_the_colour_statistics_toward_the_style_image(diffusion_manager):
    content = photo(128, 96)
    style = Image.fromarray(
        np.stack(
            [
                np.full((64, 64), 230),
                np.tile(np.linspace(90, 160, 64), (64, 1)),
                np.full((64, 64), 20),
            ],
            axis=-1,
        ).astype(np.uint8)
    )  # warm orange
    weak = diffusion.style_transfer(
        StyleTransferRequest(content=content, style=style, strength=0.3, seed=5),
        manager=diffusion_manager,
    )
    strong = diffusion.style_transfer(
        StyleTransferRequest(content=content, style=style, strength=0.9, seed=5),
        manager=diffusion_manager,
    )
    before = lab_mean_distance(content, style)
    assert strong.images[0].size == content.size
    assert lab_mean_distance(weak.images[0], style) < before
    assert lab_mean_distance(strong.images[0], style) < lab_mean_distance(weak.images[0], style)
    assert lab_mean_distance(strong.images[0], style) < 0.3 * before
    assert strong.description.endswith("(demo model).")


# --- batch edit --------------------------------------------------------------------------------


def test_batch_edit_returns_one_image_per_input_with_one_shared_seed(diffusion_manager):
    images = (photo(96, 64), photo(64, 64), photo(80, 48))
    seen: list[int] = []
    result = diffusion.batch_edit(
        BatchEditRequest(prompt="a hat", images=images, seed=11),
        manager=diffusion_manager,
        on_progress=seen.append,
    )
    assert [image.size for image in result.images] == [image.size for image in images]
    assert result.seed == 11
    assert seen[0] == 0 and seen[-1] == 100 and seen == sorted(seen) and len(seen) >= 6
    assert result.description == "Edited 3 images with one prompt (demo model)."
    # The shared seed: the first item is exactly what a single edit with that seed gives.
    single = diffusion.batch_edit(
        BatchEditRequest(prompt="a hat", images=images[:1], seed=11), manager=diffusion_manager
    )
    assert np.array_equal(pixels(single.images[0]), pixels(result.images[0]))


def test_batch_consistency_matches_every_result_to_the_first_ones_statistics(
    diffusion_manager,
):
    sky = photo(64, 64)
    dusk = Image.fromarray((pixels(photo(64, 64))[..., ::-1] * 0.5).astype(np.uint8))

    def run(consistent):
        return diffusion.batch_edit(
            BatchEditRequest(
                prompt="paint it",
                images=(sky, dusk),
                preserve_character=consistent,
                style_consistency=consistent,
                seed=3,
            ),
            manager=diffusion_manager,
        ).images

    first, second = run(True)
    loose_first, loose_second = run(False)
    reference, matched = colour_stats(first), colour_stats(second)
    assert np.abs(matched.mean - reference.mean).max() < 1.0
    assert np.abs(matched.std - reference.std).max() < 1.0
    # The first item is the reference and is left alone; the others are steered by it (the
    # random-weight demo decoder shows little of the latent statistics sharing, but some).
    assert np.array_equal(pixels(first), pixels(loose_first))
    assert not np.array_equal(pixels(second), pixels(loose_second))


def test_batch_edit_refuses_more_than_twenty_images(diffusion_manager):
    request = BatchEditRequest(prompt="x", images=(photo(16, 16),) * 21)
    with pytest.raises(OperationFailed, match="20"):
        diffusion.batch_edit(request, manager=diffusion_manager)


def test_batch_edit_with_a_chinese_prompt_answers_in_chinese(diffusion_manager):
    result = diffusion.batch_edit(
        BatchEditRequest(prompt="换成夏天的衣服", images=(photo(64, 64),) * 2, seed=1),
        manager=diffusion_manager,
    )
    assert result.description == "已用同一提示编辑 2 张图像（演示模型）。"


def test_lab_conversion_round_trips():
    from imaging.engine.diffusion_compose import lab_to_rgb

    source = photo(32, 32)
    assert np.abs(pixels(lab_to_rgb(rgb_to_lab(source))) - pixels(source)).max() <= 1
