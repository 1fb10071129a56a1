"""Style transfer on the offline path: Magenta's arbitrary-style network through onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps
from skimage import color, data

from bench.quality_metrics import EDGE_SSIM_KEPT, edge_ssim
from core.operations import Operation
from imaging.engine import offline_style, text
from imaging.engine.offline_style import style_transfer_offline
from imaging.engine.types import OperationCancelled, StyleTransferRequest

CONTENTS = {"astronaut": data.astronaut, "chelsea": data.chelsea, "coffee": data.coffee}


@pytest.fixture(scope="module")
def style() -> Image.Image:
    # A real photo with a strong palette (blue sky, orange flame, white rocket).
    return Image.fromarray(data.rocket())


def photo(name: str) -> Image.Image:
    return Image.fromarray(CONTENTS[name]())


def lab(image: Image.Image | np.ndarray) -> np.ndarray:
    return color.rgb2lab(np.asarray(image)[..., :3])


def lab_mean_distance(a: Image.Image | np.ndarray, b: Image.Image | np.ndarray) -> float:
    first, second = lab(a).reshape(-1, 3).mean(axis=0), lab(b).reshape(-1, 3).mean(axis=0)
    return float(np.linalg.norm(first - second))


def mean_delta_e(a: Image.Image | np.ndarray, b: Image.Image | np.ndarray) -> float:
    """Mean per-pixel CIE76 colour difference of two images of one size."""
    return float(np.linalg.norm(lab(a) - lab(b), axis=-1).mean())


def transfer(content: Image.Image, style: Image.Image, strength: float = 0.8, **hooks):
    return style_transfer_offline(StyleTransferRequest(content, style, strength), **hooks)


@pytest.mark.parametrize("size", [(301, 173), (173, 301), (1203, 533)])
def test_output_has_exactly_the_content_size(style, size):
    content = ImageOps.fit(photo("coffee"), size, Image.Resampling.LANCZOS)
    result = transfer(content, style)
    (image,) = result.images
    assert image.size == size
    assert image.mode == "RGB"


@pytest.mark.parametrize("size", [(5, 5), (1, 40), (40, 1)])
def test_tiny_and_thin_images_keep_their_size(style, size):
    content = photo("chelsea").resize(size, Image.Resampling.LANCZOS)
    assert transfer(content, style).images[0].size == size


@pytest.mark.parametrize("name", sorted(CONTENTS))
def test_result_keeps_the_content_structure(style, name):
    content = photo(name)
    result = transfer(content, style).images[0]
    assert edge_ssim(content, result) > EDGE_SSIM_KEPT


@pytest.mark.parametrize("name", sorted(CONTENTS))
def test_threshold_separates_unrelated_pictures(style, name):
    content = photo(name)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, np.asarray(content).shape, dtype=np.uint8)
    assert edge_ssim(content, noise) < EDGE_SSIM_KEPT / 3
    others = [photo(other) for other in CONTENTS if other != name] + [style]
    for other in others:
        unrelated = other.resize(content.size, Image.Resampling.LANCZOS)
        assert edge_ssim(content, unrelated) < EDGE_SSIM_KEPT


def test_result_is_a_picture_not_noise(style):
    content = photo("astronaut")
    result = np.asarray(transfer(content, style).images[0], dtype=np.float64)
    assert not np.array_equal(result, np.asarray(content))

    def neighbour_correlation(pixels: np.ndarray) -> float:
        grey = pixels.mean(axis=2)
        return float(np.corrcoef(grey[:, :-1].ravel(), grey[:, 1:].ravel())[0, 1])

    noise = np.random.default_rng(0).integers(0, 256, result.shape).astype(np.float64)
    assert neighbour_correlation(noise) < 0.05
    assert neighbour_correlation(result) > 0.8


@pytest.mark.parametrize("name", sorted(CONTENTS))
def test_colours_move_toward_the_style(style, name):
    content = photo(name)
    result = transfer(content, style).images[0]
    # Measured: astronaut 35 -> 12, chelsea 42 -> 12, coffee 55 -> 15 (CIELAB units).
    assert lab_mean_distance(result, style) < 0.6 * lab_mean_distance(content, style)


def test_strength_zero_stays_close_and_one_differs_more(style):
    content = photo("chelsea")
    gentle = transfer(content, style, 0.0).images[0]
    full = transfer(content, style, 1.0).images[0]
    # Strength 0 is the content in its own style (the network's rendering, so not identical).
    assert mean_delta_e(content, gentle) < 0.6 * mean_delta_e(content, full)
    assert lab_mean_distance(gentle, style) > lab_mean_distance(full, style)


def test_content_alpha_is_kept(style):
    content = photo("astronaut").resize((200, 150)).convert("RGBA")
    alpha = np.tile(np.linspace(0, 255, 200, dtype=np.uint8), (150, 1))
    content.putalpha(Image.fromarray(alpha))
    (image,) = transfer(content, style).images
    assert image.mode == "RGBA"
    assert image.size == (200, 150)
    assert np.array_equal(np.asarray(image)[..., 3], alpha)


def test_progress_climbs_to_100(style):
    seen: list[int] = []
    transfer(photo("coffee"), style, on_progress=seen.append)
    assert seen == sorted(set(seen))
    assert seen[0] == 0 and seen[-1] == 100


def test_cancel_before_start_raises(style):
    with pytest.raises(OperationCancelled):
        transfer(photo("coffee"), style, should_cancel=lambda: True)


def test_cancel_midway_raises_before_the_end(style):
    seen: list[int] = []
    with pytest.raises(OperationCancelled):
        transfer(
            photo("coffee"),
            style,
            on_progress=seen.append,
            should_cancel=lambda: bool(seen) and seen[-1] >= 25,
        )
    assert seen[-1] < 100


def test_result_is_deterministic_real_and_described(style):
    content = photo("chelsea").resize((160, 120))
    first = transfer(content, style)
    second = transfer(content, style)
    assert np.array_equal(np.asarray(first.images[0]), np.asarray(second.images[0]))
    assert first.demo is False
    assert first.seed is None
    assert first.description == text.description("style_transfer", demo=False)
    assert {"load", "style", "transform", "total"} <= set(first.timings)


def test_freed_input_size_leaves_the_network_unchanged():
    import onnxruntime

    model = (offline_style.style_model_dir() / offline_style.TRANSFORM_FILE).read_bytes()
    fixed = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    freed = onnxruntime.InferenceSession(
        offline_style.spatial_dims_free(model), providers=["CPUExecutionProvider"]
    )
    assert fixed.get_inputs()[0].shape == [1, 384, 384, 3]
    assert freed.get_inputs()[0].shape == [1, "height", "width", 3]
    rng = np.random.default_rng(0)
    feeds = {
        fixed.get_inputs()[0].name: rng.random((1, 384, 384, 3), dtype=np.float32),
        fixed.get_inputs()[1].name: rng.random((1, 1, 1, 100), dtype=np.float32),
    }
    assert np.array_equal(fixed.run(None, feeds)[0], freed.run(None, feeds)[0])


# --- through the runner ----------------------------------------------------------------------


def test_runner_uses_the_offline_model_by_default(monkeypatch, style):
    from imaging import runner

    def no_diffusion():
        raise AssertionError("the diffusion model manager was built")

    monkeypatch.setattr(runner, "model_manager", no_diffusion)
    assert runner.style_transfer_runs_offline()
    seen: list[int] = []
    content = photo("astronaut").resize((256, 256))
    result = runner.engine_run(
        operation=Operation.STYLE_TRANSFER,
        params={"strength": 0.8, "output_format": "png"},
        images=[content, style],
        on_progress=seen.append,
        should_cancel=lambda: False,
    )
    assert result.demo is False
    assert result.images[0].size == (256, 256)
    assert edge_ssim(content, result.images[0]) > EDGE_SSIM_KEPT
    assert seen[-1] == 100


@pytest.mark.parametrize(
    "models",
    [
        {"text_to_image": "", "image_edit": "Qwen/Qwen-Image-Edit-2511"},
        {"text_to_image": "", "image_edit": "", "style_transfer": "/models/edit"},
    ],
)
def test_a_configured_edit_or_style_model_keeps_diffusion(settings, models):
    from imaging import runner

    settings.IMAGING_DIFFUSION_MODELS = models
    assert not runner.style_transfer_runs_offline()
