"""The image operations the platform sells: the one list that billing's prices, imaging's tasks
and the engine all name. Plain Python, so the engine (which imports no Django) can use it too."""

from enum import StrEnum


class Operation(StrEnum):
    IMAGE_EDIT = "image_edit"
    REMOVE_BACKGROUND = "remove_background"
    TEXT_TO_IMAGE = "text_to_image"
    ENHANCE = "enhance"
    STYLE_TRANSFER = "style_transfer"
    BATCH_EDIT = "batch_edit"


# The operations a diffusion pipeline runs (GPU work); the rest run on CPU workers.
DIFFUSION_OPERATIONS = frozenset(
    {Operation.TEXT_TO_IMAGE, Operation.IMAGE_EDIT, Operation.STYLE_TRANSFER, Operation.BATCH_EDIT}
)

# A batch edit takes at most this many images, whatever the plan (plans may allow fewer).
BATCH_MAX_IMAGES = 20


def operation_slug(operation: Operation) -> str:
    """The operation's URL segment: /v1/<slug> and the dashboard's /playground/<slug>."""
    return operation.value.replace("_", "-")
