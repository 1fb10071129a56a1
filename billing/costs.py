"""What each operation costs in credits: the reference's table, defined once."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Operation(models.TextChoices):
    IMAGE_EDIT = "image_edit", _("Image edit")
    REMOVE_BACKGROUND = "remove_background", _("Background removal")
    TEXT_TO_IMAGE = "text_to_image", _("Text to image")
    ENHANCE = "enhance", _("Enhance")
    STYLE_TRANSFER = "style_transfer", _("Style transfer")
    BATCH_EDIT = "batch_edit", _("Batch edit (per image)")


CREDIT_COSTS: dict[Operation, int] = {
    Operation.IMAGE_EDIT: 5,
    Operation.REMOVE_BACKGROUND: 3,
    Operation.TEXT_TO_IMAGE: 8,
    Operation.ENHANCE: 4,
    Operation.STYLE_TRANSFER: 6,
    Operation.BATCH_EDIT: 5,
}


def operation_cost(operation: Operation, *, images: int = 1) -> int:
    """Credits for one request; batch edits cost per image."""
    return CREDIT_COSTS[operation] * images
