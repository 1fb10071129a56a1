"""The nastiest images, sent to /v1/remove-background as data URLs and as multipart uploads:
each answers its 4xx in the error envelope, and nothing is charged or queued."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from collections.abc import Callable

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from accounts.models import Account
from billing.models import CreditLedgerEntry
from billing.selectors import account_billing_summary
from imaging.models import Task

pytestmark = pytest.mark.django_db

ASYNC = {"HTTP_PREFER": "respond-async"}
PATH = "/v1/remove-background"


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def photo() -> Image.Image:
    grey = Image.linear_gradient("L").resize((96, 80))
    return Image.merge("RGB", (grey, grey.rotate(90), Image.effect_noise((96, 80), 64)))


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(width: int, height: int) -> bytes:
    """A 2 KB PNG whose (correctly checksummed) header claims width x height."""
    real = encode(photo(), "PNG")
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return real[:8] + png_chunk(b"IHDR", ihdr) + real[33:]


def png_deflate_bomb() -> bytes:
    """A valid 20000x20000 1-bit PNG of zeros: about 60 KB that decode to 400 megapixels."""
    row = b"\0" * (1 + 20000 // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row * 1000) for _ in range(20)) + compressor.flush()
    header = struct.pack(">IIBBBBB", 20000, 20000, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    data = bytearray(encode(photo(), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def png_with_corrupt_pixels() -> bytes:
    """Garbage inside the zlib stream, with the chunk's CRC recomputed so only the inflater
    can tell."""
    real = encode(photo(), "PNG")
    start = real.index(b"IDAT")
    (length,) = struct.unpack(">I", real[start - 4 : start])
    body = bytearray(real[start + 4 : start + 4 + length])
    body[10:40] = bytes(range(30))
    return real[: start - 4] + png_chunk(b"IDAT", bytes(body)) + real[start + 8 + length :]


def animation(fmt: str) -> bytes:
    first, *rest = (Image.new("RGB", (16, 16), color) for color in ("red", "green", "blue"))
    return encode(first, fmt, save_all=True, append_images=rest, duration=50, loop=0)


HOSTILE: dict[str, tuple[Callable[[], bytes], int, str]] = {
    "png-claiming-100000x100000": (
        lambda: png_claiming(100_000, 100_000),
        413,
        "FILE_TOO_LARGE",
    ),
    "png-deflate-bomb-20000x20000": (png_deflate_bomb, 413, "FILE_TOO_LARGE"),
    "jpeg-claiming-65535x65535": (lambda: jpeg_claiming(65_535, 65_535), 413, "FILE_TOO_LARGE"),
    "png-truncated": (lambda: encode(photo(), "PNG")[:700], 400, "INVALID_REQUEST"),
    "png-corrupt-pixels": (png_with_corrupt_pixels, 400, "INVALID_REQUEST"),
    "png-zero-size": (lambda: png_claiming(0, 0), 400, "INVALID_REQUEST"),
    "apng": (lambda: animation("PNG"), 415, "UNSUPPORTED_FORMAT"),
    "gif-animated": (lambda: animation("GIF"), 415, "UNSUPPORTED_FORMAT"),
    "random-bytes": (lambda: bytes(range(256)) * 16, 415, "UNSUPPORTED_FORMAT"),
    "empty": (lambda: b"", 400, "INVALID_REQUEST"),
}


def assert_refused_and_free(response, *, status: int, code: str, account: Account) -> None:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert body["success"] is False and body["error"]["code"] == code
    assert body["error"]["message"] and body["request_id"]
    assert "X-Credits-Used" not in response
    assert account_billing_summary(account=account).balance == 50
    assert not Task.objects.for_account(account).exists()
    charges = CreditLedgerEntry.objects.for_account(account).filter(kind="charge")
    assert not charges.exists()


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_image_as_a_data_url_is_refused_and_free(
    authed_client: APIClient, account: Account, name: str
) -> None:
    make, status, code = HOSTILE[name]
    image_url = f"data:image/png;base64,{base64.b64encode(make()).decode()}"
    response = authed_client.post(PATH, {"image_url": image_url}, format="json", **ASYNC)
    assert_refused_and_free(response, status=status, code=code, account=account)


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_image_as_an_upload_is_refused_and_free(
    authed_client: APIClient, account: Account, name: str
) -> None:
    make, status, code = HOSTILE[name]
    upload = SimpleUploadedFile("photo.png", make(), content_type="image/png")
    response = authed_client.post(PATH, {"image": upload}, format="multipart", **ASYNC)
    assert_refused_and_free(response, status=status, code=code, account=account)


def test_a_hostile_image_is_refused_the_same_way_when_the_client_waits(
    authed_client: APIClient, account: Account
) -> None:
    """Without Prefer: respond-async the refusal comes before any wait."""
    upload = SimpleUploadedFile("bomb.png", png_deflate_bomb(), content_type="image/png")
    response = authed_client.post(PATH, {"image": upload}, format="multipart")
    assert_refused_and_free(response, status=413, code="FILE_TOO_LARGE", account=account)
