"""Image inputs: a URL (http(s) or data:) goes in the JSON body; a local path, bytes or an open
file is uploaded as multipart under the field's name without `_url`."""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path
from typing import IO, Any, Union

from ._constants import MAX_FILE_SIZE_BYTES, MAX_FILE_SIZE_MB
from ._exceptions import FileTooLargeError

# What an image parameter accepts.
ImageInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]

URL_PREFIXES = ("http://", "https://", "data:")

_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"RIFF", "image/webp", ".webp"),
)


def is_url(value: object) -> bool:
    return isinstance(value, str) and value.strip().lower().startswith(URL_PREFIXES)


def upload_from(field: str, value: ImageInput) -> tuple[str, bytes, str]:
    """(filename, content, content type) for a non-URL input, refused when larger than any
    plan accepts (so nothing that must fail is uploaded)."""
    if isinstance(value, (str, os.PathLike)):
        path = Path(value)
        if not path.is_file():
            raise FileNotFoundError(
                f"{field}: {str(value)!r} is neither an http(s)/data: URL nor an existing file"
            )
        _check_size(field, path.stat().st_size)
        return path.name, path.read_bytes(), _content_type(path.name, b"")
    if isinstance(value, (bytes, bytearray, memoryview)):
        content = bytes(value)
        name = "image"
    elif hasattr(value, "read"):
        content = value.read()
        if isinstance(content, str):
            raise TypeError(f"{field}: open the file in binary mode ('rb')")
        raw_name = getattr(value, "name", None)
        name = os.path.basename(raw_name) if isinstance(raw_name, str) else "image"
    else:
        raise TypeError(
            f"{field}: expected a URL, a path, bytes or a binary file, not {type(value).__name__}"
        )
    _check_size(field, len(content))
    content_type = _content_type(name, content)
    if "." not in name:
        name += next((ext for magic, _t, ext in _MAGIC if content.startswith(magic)), "")
    return name, content, content_type


def _content_type(name: str, content: bytes) -> str:
    for magic, content_type, _ext in _MAGIC:
        if content.startswith(magic):
            return content_type
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _check_size(field: str, size: int) -> None:
    if size > MAX_FILE_SIZE_BYTES:
        raise FileTooLargeError(
            f"{field}: the file is {size / 1024 / 1024:.1f} MB; no plan accepts more than "
            f"{MAX_FILE_SIZE_MB} MB",
            limit_bytes=MAX_FILE_SIZE_BYTES,
        )


def build_body(
    params: dict[str, Any], image_fields: tuple[str, ...]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, tuple[str, bytes, str]] | None]:
    """(json, form data, files) for one operation: JSON unless an image is to be uploaded, then
    multipart with every other field as text."""
    params = {key: value for key, value in params.items() if value is not None}
    files: dict[str, tuple[str, bytes, str]] = {}
    for field in image_fields:
        value = params.get(field)
        if value is None or is_url(value):
            continue
        del params[field]
        files[field.removesuffix("_url")] = upload_from(field, value)
    if not files:
        return params, None, None
    data = {key: _form_value(value) for key, value in params.items()}
    return None, data, files


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


__all__ = ["ImageInput", "build_body", "is_url", "upload_from"]
