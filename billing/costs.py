"""What each operation costs in credits: the reference's table, defined once."""

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from core.operations import Operation

CREDIT_COSTS: dict[Operation, int] = {
    Operation.IMAGE_EDIT: 5,
    Operation.REMOVE_BACKGROUND: 3,
    Operation.TEXT_TO_IMAGE: 8,
    Operation.ENHANCE: 4,
    Operation.STYLE_TRANSFER: 6,
    Operation.BATCH_EDIT: 5,
}

# How the price list, the dashboard and the admin name each operation.
OPERATION_LABELS: dict[Operation, Promise] = {
    Operation.IMAGE_EDIT: _("Image edit"),
    Operation.REMOVE_BACKGROUND: _("Background removal"),
    Operation.TEXT_TO_IMAGE: _("Text to image"),
    Operation.ENHANCE: _("Enhance"),
    Operation.STYLE_TRANSFER: _("Style transfer"),
    Operation.BATCH_EDIT: _("Batch edit (per image)"),
}
OPERATION_CHOICES = [(operation.value, OPERATION_LABELS[operation]) for operation in Operation]


def operation_cost(operation: Operation, *, images: int = 1) -> int:
    """Credits for one request; batch edits cost per image."""
    return CREDIT_COSTS[operation] * images
