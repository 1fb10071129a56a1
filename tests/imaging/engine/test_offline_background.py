"""Background removal on the offline path: MediaPipe for people, GrabCut for other subjects."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from imaging.engine.offline_background import band_radius, edge_band, remove_background
from imaging.engine.types import OperationCancelled, RemoveBackgroundRequest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return Image.fromarray(data.astronaut())


@pytest.fixture(scope="module")
def astronaut_foreground() -> np.ndarray:
    """The astronaut with the helmet she holds, traced by hand as a polygon over the photo
    (fixtures/README.md)."""
    return np.asarray(Image.open(FIXTURES / "astronaut_foreground.png").convert("L")) > 127


@pytest.fixture(scope="module")
def astronaut_removed(astronaut: Image.Image):
    return remove_background(RemoveBackgroundRequest(astronaut, return_mask=True))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_person_is_kept_and_background_removed(astronaut_removed, astronaut_foreground):
    alpha = np.asarray(astronaut_removed.images[0])[..., 3]
    assert iou(alpha > 127, astronaut_foreground) >= 0.8
    assert "person" in astronaut_removed.description


def test_result_is_rgba_with_the_photo_and_an_aligned_l_mask(astronaut, astronaut_removed):
    image, mask = astronaut_removed.images[0], astronaut_removed.mask
    assert image.mode == "RGBA" and image.size == astronaut.size
    assert mask is not None and mask.mode == "L" and mask.size == astronaut.size
    rgba = np.asarray(image)
    assert np.array_equal(rgba[..., 3], np.asarray(mask))
    assert np.array_equal(rgba[..., :3], np.asarray(astronaut))
    assert 0 < (rgba[..., 3] > 127).mean() < 1


def test_mask_is_returned_only_when_asked(astronaut):
    result = remove_background(RemoveBackgroundRequest(astronaut, edge_smooth=False))
    assert result.mask is None


def test_edge_smooth_changes_only_the_band_around_the_edge(astronaut, astronaut_removed):
    hard = remove_background(
        RemoveBackgroundRequest(astronaut, return_mask=True, edge_smooth=False)
    ).mask
    hard_alpha = np.asarray(hard)
    smooth_alpha = np.asarray(astronaut_removed.mask)
    assert set(np.unique(hard_alpha)) <= {0, 255}
    band = edge_band(hard_alpha > 127, band_radius(*astronaut.size))
    changed = hard_alpha != smooth_alpha
    assert changed.any()
    assert not (changed & ~band).any()
    # Soft values appear at the edge: the refined alpha has a gradient, not a step.
    soft = (smooth_alpha > 0) & (smooth_alpha < 255)
    assert soft.sum() > 0.05 * band.sum()


@pytest.mark.parametrize("photo", ["coffee", "chelsea"])
def test_subject_without_a_person_is_cut_out_by_the_salient_object_fallback(photo):
    image = Image.fromarray(getattr(data, photo)())
    result = remove_background(RemoveBackgroundRequest(image, return_mask=True))
    kept = (np.asarray(result.mask) > 127).mean()
    assert 0.05 < kept < 0.95
    assert "salient-object" in result.description
    # The subject is central: the centre is kept, the image border is mostly background.
    mask = np.asarray(result.mask) > 127
    h, w = mask.shape
    assert mask[h // 2 - 10 : h // 2 + 10, w // 2 - 10 : w // 2 + 10].mean() > 0.5
    border = np.concatenate([mask[:3].ravel(), mask[-3:].ravel(), mask[:, :3].ravel()])
    assert border.mean() < 0.5


@pytest.mark.parametrize(
    "image",
    [
        Image.new("RGB", (1, 1), (200, 10, 10)),
        Image.new("L", (5, 300), 90),
        Image.fromarray(data.astronaut()).convert("L").resize((96, 96)),
        Image.fromarray(data.astronaut()).resize((96, 96)).convert("P"),
        Image.new("I;16", (40, 30), 40000),
    ],
    ids=["1x1", "thin-L", "grey-L", "palette", "16-bit"],
)
def test_odd_inputs_give_an_rgba_of_the_same_size(image):
    result = remove_background(RemoveBackgroundRequest(image, return_mask=True))
    assert result.images[0].mode == "RGBA"
    assert result.images[0].size == image.size == result.mask.size


def test_existing_transparency_is_kept(astronaut):
    rgba = astronaut.convert("RGBA")
    hidden = np.asarray(rgba).copy()
    hidden[:, 256:, 3] = 0  # the right half was already transparent
    result = remove_background(RemoveBackgroundRequest(Image.fromarray(hidden)))
    alpha = np.asarray(result.images[0])[..., 3]
    assert alpha[:, 256:].max() == 0
    assert alpha[:, :256].max() == 255


def test_progress_is_reported_and_cancel_stops(astronaut):
    seen: list[int] = []
    remove_background(
        RemoveBackgroundRequest(astronaut, edge_smooth=False), on_progress=seen.append
    )
    assert seen == sorted(seen) and seen[-1] == 100
    with pytest.raises(OperationCancelled):
        remove_background(RemoveBackgroundRequest(astronaut), should_cancel=lambda: True)


def test_fixture_is_a_plausible_outline(astronaut_foreground):
    # Guards the hand-made fixture itself: one solid region covering about half the photo.
    count, _ = cv2.connectedComponents(astronaut_foreground.astype(np.uint8))
    assert count == 2
    assert 0.45 < astronaut_foreground.mean() < 0.65
