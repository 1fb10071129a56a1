"""The engine's one shape rule: what the submit path checks is what the pipelines refuse."""

import pytest
from PIL import Image

from imaging.engine import shapes
from imaging.engine.types import OperationFailed


@pytest.mark.parametrize(
    ("size", "accepted"),
    [((512, 64), True), ((64, 512), True), ((513, 64), False), ((4000, 10), False), ((1, 1), True)],
)
def test_the_aspect_rule(size: tuple[int, int], accepted: bool) -> None:
    width, height = size
    assert shapes.aspect_ratio_accepted(width=width, height=height) is accepted
    assert shapes.input_shape_accepted(operation="image_edit", width=width, height=height) is (
        accepted
    )


@pytest.mark.parametrize("operation", ["remove_background", "enhance"])
def test_operations_without_a_diffusion_model_take_any_shape(operation: str) -> None:
    assert shapes.input_shape_accepted(operation=operation, width=4000, height=10)


def test_the_instruct_pipeline_refuses_by_the_same_rule() -> None:
    from imaging.engine.diffusion import _instruct_input

    with pytest.raises(OperationFailed, match="8 times"):
        _instruct_input(Image.new("RGB", (4000, 10)))
    assert _instruct_input(Image.new("RGB", (512, 64))).size == (512, 64)
    assert _instruct_input(Image.new("RGB", (80, 10))).size == (512, 64)  # scaled up, not refused
