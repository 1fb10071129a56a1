"""Enhance on the offline path: Real-ESRGAN through ncnn, non-local means, automatic colour."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from imaging.engine import offline_enhance
from imaging.engine.offline_enhance import ImageEnhancer, RealESRGANUpscaler, enhance
from imaging.engine.types import EnhanceRequest, OperationCancelled


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.fromarray(data.astronaut()).resize((128, 128), Image.Resampling.LANCZOS)


@pytest.mark.parametrize("factor", [2, 4])
def test_upscale_is_exactly_factor_times_and_not_a_plain_resize(photo, factor):
    result = enhance(EnhanceRequest(photo, "upscale", factor))
    image = result.images[0]
    assert image.mode == "RGB"
    assert image.size == (128 * factor, 128 * factor)
    assert "Real-ESRGAN" in result.description
    out = np.asarray(image, dtype=np.float64)
    lanczos = np.asarray(photo.resize(image.size, Image.Resampling.LANCZOS), dtype=np.float64)
    difference = np.abs(out - lanczos).mean()
    psnr = 10 * np.log10(255**2 / ((out - lanczos) ** 2).mean())
    assert difference > 3  # the network, not a resampler
    assert psnr > 20  # ... but still the same picture


def test_tiles_join_without_seams(photo):
    source = np.asarray(photo)
    tiled = RealESRGANUpscaler(tile=40).upscale(source, 2)
    whole = RealESRGANUpscaler(tile=512).upscale(source, 2)
    assert tiled.shape == whole.shape == (256, 256, 3)
    assert np.abs(tiled.astype(int) - whole).max() <= 2


def test_x2_from_a_x4_only_model_is_exact(monkeypatch, photo):
    upscaler = RealESRGANUpscaler(tile=128)
    monkeypatch.setitem(
        offline_enhance.REALESRGAN_MODELS, "only-x4", {4: "REALESRGAN_ANIMAVIDEOV3_UP4X"}
    )
    upscaler.variant = "only-x4"
    out = upscaler.upscale(np.asarray(photo.crop((0, 0, 37, 23))), 2)
    assert out.shape == (46, 74, 3)


def test_large_upscale_runs_tiled_with_progress():
    image = Image.fromarray(data.astronaut()).resize((1024, 1024))
    seen: list[int] = []
    result = enhance(EnhanceRequest(image, "upscale", 2), on_progress=seen.append)
    assert result.images[0].size == (2048, 2048)
    # One report per 256 px tile (16 of them) between the start and the end.
    assert len(seen) >= 16 and seen == sorted(seen) and seen[-1] == 100


def test_upscale_cancels_between_tiles():
    image = Image.fromarray(data.astronaut())
    calls = iter(range(100))
    with pytest.raises(OperationCancelled):
        enhance(EnhanceRequest(image, "upscale", 2), should_cancel=lambda: next(calls) >= 2)


def test_lanczos_fallback_when_ncnn_cannot_load(photo, caplog):
    enhancer = ImageEnhancer(RealESRGANUpscaler(model_dir="/nonexistent"))
    result = enhancer(EnhanceRequest(photo, "upscale", 4))
    assert result.images[0].size == (512, 512)
    assert "fallback" in result.description
    assert "Real-ESRGAN could not load" in caplog.text


def test_denoise_lowers_measured_noise():
    clean = data.astronaut().astype(np.float64)
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 20, clean.shape), 0, 255)
    result = enhance(EnhanceRequest(Image.fromarray(noisy.astype(np.uint8)), "denoise"))
    out = np.asarray(result.images[0], dtype=np.float64)
    assert result.images[0].mode == "RGB" and result.images[0].size == (512, 512)
    assert (out - clean).std() < 0.65 * (noisy - clean).std()


def mean_ab(image) -> tuple[float, float]:
    lab = cv2.cvtColor(np.asarray(image, dtype=np.uint8), cv2.COLOR_RGB2LAB).astype(np.float64)
    return lab[..., 1].mean() - 128, lab[..., 2].mean() - 128


@pytest.mark.parametrize("photo_name", ["astronaut", "coffee"])
def test_color_moves_a_cast_image_toward_neutral(photo_name):
    clean = getattr(data, photo_name)().astype(np.float64)
    cast = np.clip(clean * (1.25, 1.0, 0.7), 0, 255).astype(np.uint8)  # warm/yellow cast
    result = enhance(EnhanceRequest(Image.fromarray(cast), "color"))
    a_before, b_before = mean_ab(cast)
    a_after, b_after = mean_ab(result.images[0])
    assert np.hypot(a_after, b_after) < 0.75 * np.hypot(a_before, b_before)
    assert result.images[0].mode == "RGB"


@pytest.mark.parametrize("kind", ["upscale", "denoise", "color"])
@pytest.mark.parametrize(
    "image",
    [
        Image.new("RGB", (1, 1), (200, 10, 10)),
        Image.fromarray(data.camera()).resize((64, 48)),  # L
        Image.fromarray(data.astronaut()).resize((64, 64)).convert("P"),
        Image.new("I;16", (20, 10), 40000),
    ],
    ids=["1x1", "L", "P", "16-bit"],
)
def test_odd_inputs_become_rgb_of_the_right_size(image, kind):
    result = enhance(EnhanceRequest(image, kind, 4))
    factor = 4 if kind == "upscale" else 1
    assert result.images[0].mode == "RGB"
    assert result.images[0].size == (image.width * factor, image.height * factor)


@pytest.mark.parametrize("kind", ["upscale", "denoise", "color"])
def test_transparency_survives(kind):
    rgba = Image.fromarray(data.astronaut()).resize((64, 64)).convert("RGBA")
    values = np.asarray(rgba).copy()
    values[:, :32, 3] = 0
    result = enhance(EnhanceRequest(Image.fromarray(values), kind, 2))
    out = result.images[0]
    assert out.mode == "RGBA"
    alpha = np.asarray(out)[..., 3]
    assert alpha[:, : alpha.shape[1] // 2 - 8].max() == 0  # Lanczos rings a few px
    assert alpha[:, alpha.shape[1] // 2 + 8 :].min() == 255
