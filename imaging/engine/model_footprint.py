"""What a model's weights take in memory: torch models by their parameter count (read from the
safetensors headers, no tensor loaded) at the dtype they run in; ONNX, ncnn and TFLite models by
their files' sizes (they load as stored)."""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable
from pathlib import Path

# Weight files of a torch model folder; an index (.json) or a config holds no weights.
_SAFETENSORS = ".safetensors"
_PICKLED = frozenset({".bin", ".pt", ".pth", ".ckpt"})


def model_folder(model: str) -> Path | None:
    """A local folder, or a hub id's snapshot in the local Hugging Face cache (where
    `from_pretrained` finds it); None when neither is on this machine."""
    path = Path(model)
    if path.is_dir():
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id=model, local_files_only=True))
    except Exception:  # not an id, not cached: nothing to count
        return None


def safetensors_parameters(path: Path) -> int:
    """The number of values in a .safetensors file, from its JSON header alone."""
    with path.open("rb") as file:
        (length,) = struct.unpack("<Q", file.read(8))
        header = json.loads(file.read(length))
    return sum(
        math.prod(entry["shape"]) for name, entry in header.items() if name != "__metadata__"
    )


def torch_weights_bytes(folder: Path, *, bytes_per_parameter: int) -> int | None:
    """The weights of a torch model folder (a diffusers pipeline with its component folders, or
    a transformers model) once loaded: safetensors parameters times the runtime dtype's size.
    Pickled weights count at their size on disk, except beside safetensors (the same weights in
    the other format: from_pretrained loads the safetensors). None when there are no weights."""
    files = [path for path in folder.rglob("*") if path.is_file()]
    with_safetensors = {path.parent for path in files if path.suffix == _SAFETENSORS}
    total, found = 0, False
    for path in files:
        if path.suffix == _SAFETENSORS:
            total += safetensors_parameters(path) * bytes_per_parameter
            found = True
        elif path.suffix in _PICKLED and path.parent not in with_safetensors:
            total += path.stat().st_size
            found = True
    return total if found else None


def files_bytes(paths: Iterable[Path]) -> int | None:
    """The files' total size; None when one of them is missing (the model would not load)."""
    total = 0
    for path in paths:
        if not path.is_file():
            return None
        total += path.stat().st_size
    return total
