"""Decoding, data URLs and uploads: only still JPEG, PNG and WebP within the caps get through;
bombs, truncated, corrupt, animated and other formats are refused with the right codes."""

from __future__ import annotations

import base64
import io
import os
import struct
import time
import zlib
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from PIL import Image

from core.errors import FileTooLarge, InvalidRequest, UnsupportedFormat
from imaging.inputs import image_decode, image_from_data_url, image_from_upload, image_load

MB = 1024 * 1024
PIXELS = 4_000_000


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def photo(size: tuple[int, int] = (64, 48), mode: str = "RGB") -> Image.Image:
    """Not flat: JPEG and WebP need real content for truncation to bite."""
    image = Image.linear_gradient("L").resize(size).convert(mode)
    return image


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of width x height, all zeros: a few tens of KB that decode to
    width*height pixels (a 20000x20000 one is 400 megapixels, 1.2 GB as RGB)."""
    row = b"\0" * (1 + (width + 7) // 8)
    compressor = zlib.compressobj(9)
    rows = b"".join(compressor.compress(row * 1000) for _ in range(height // 1000))
    idat = rows + compressor.compress(row * (height % 1000)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


# --- what gets through --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_still_jpeg_png_and_webp_decode_to_rgb(fmt: str) -> None:
    image = image_decode(data=encode(photo(), fmt), max_pixels=PIXELS)
    assert image.size == (64, 48) and image.mode == "RGB"


def test_an_rgba_png_keeps_its_alpha() -> None:
    source = Image.new("RGBA", (8, 8), (10, 20, 30, 40))
    image = image_decode(data=encode(source, "PNG"), max_pixels=PIXELS)
    assert image.mode == "RGBA" and image.getpixel((3, 3)) == (10, 20, 30, 40)


def test_a_palette_png_with_transparency_comes_out_rgba() -> None:
    source = Image.new("P", (8, 8), 0)
    image = image_decode(data=encode(source, "PNG", transparency=0), max_pixels=PIXELS)
    assert image.mode == "RGBA" and image.getpixel((0, 0))[3] == 0


@pytest.mark.parametrize(("mode", "fmt"), [("L", "PNG"), ("CMYK", "JPEG"), ("I;16", "PNG")])
def test_other_modes_come_out_rgb(mode: str, fmt: str) -> None:
    image = image_decode(data=encode(Image.new(mode, (8, 8)), fmt), max_pixels=PIXELS)
    assert image.mode == "RGB"


def test_exif_orientation_is_applied() -> None:
    """Stored 40x20, left half red; orientation 6 means 'rotate 90 degrees clockwise to view':
    upright it is 20x40 with the red half on top."""
    source = Image.new("RGB", (40, 20), (0, 0, 255))
    source.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    image = image_decode(data=encode(source, "JPEG", exif=exif, quality=95), max_pixels=PIXELS)
    assert image.size == (20, 40)
    red, _, blue = image.getpixel((10, 5))
    assert red > 200 and blue < 60
    red, _, blue = image.getpixel((10, 35))
    assert red < 60 and blue > 200


def test_an_image_exactly_at_the_pixel_cap_is_accepted() -> None:
    image = image_decode(data=encode(photo((100, 50)), "PNG"), max_pixels=5000)
    assert image.size == (100, 50)


# --- bombs and the pixel cap --------------------------------------------------------------------


@pytest.mark.parametrize("size", [(20000, 20000), (10000, 10000)])
def test_decompression_bombs_are_refused_before_decoding(size: tuple[int, int]) -> None:
    """400 MP is past Pillow's error threshold; 100 MP only past its warning threshold, which we
    turn into an error. Either way nothing is decoded: the refusal is immediate."""
    data = png_bomb(*size)
    assert len(data) < 100_000
    started = time.monotonic()
    with pytest.raises(FileTooLarge):
        image_decode(data=data, max_pixels=10**12)
    assert time.monotonic() - started < 0.5


def test_the_plan_pixel_cap_refuses_before_decoding() -> None:
    data = png_bomb(5000, 5000)  # 25 MP: below Pillow's own limits
    started = time.monotonic()
    with pytest.raises(FileTooLarge, match="5000x5000"):
        image_decode(data=data, max_pixels=PIXELS)
    assert time.monotonic() - started < 0.5


def test_a_header_claiming_huge_dimensions_is_refused() -> None:
    header = struct.pack(">IIBBBBB", 2**31 - 1, 2**31 - 1, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IEND", b"")
    with pytest.raises((FileTooLarge, InvalidRequest)):
        image_decode(data=data, max_pixels=PIXELS)


# --- broken files -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_images_are_invalid_requests(fmt: str) -> None:
    data = encode(photo((256, 256), "RGB"), fmt)
    with pytest.raises(InvalidRequest, match="corrupt or truncated"):
        image_decode(data=data[: len(data) // 2], max_pixels=PIXELS)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_a_file_cut_inside_its_header_is_an_invalid_request(fmt: str) -> None:
    with pytest.raises(InvalidRequest):
        image_decode(data=encode(photo(), fmt)[:20], max_pixels=PIXELS)


def test_a_png_with_corrupt_pixel_data_is_an_invalid_request() -> None:
    data = bytearray(encode(photo((128, 128)), "PNG"))
    start = data.index(b"IDAT") + 4
    data[start + 10 : start + 60] = os.urandom(50)
    with pytest.raises(InvalidRequest):
        image_decode(data=bytes(data), max_pixels=PIXELS)


def test_empty_data_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest):
        image_decode(data=b"", max_pixels=PIXELS)


# --- other formats ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "ICO", "PPM", "TGA", "PCX"])
def test_real_images_in_other_formats_are_unsupported(fmt: str) -> None:
    with pytest.raises(UnsupportedFormat):
        image_decode(data=encode(photo(), fmt), max_pixels=PIXELS)


@pytest.mark.parametrize(
    "data",
    [
        os.urandom(4096),
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>',
        b"<!doctype html><html><body>Not found</body></html>",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
    ],
    ids=["random", "svg", "html", "pdf"],
)
def test_non_images_are_unsupported(data: bytes) -> None:
    with pytest.raises(UnsupportedFormat):
        image_decode(data=data, max_pixels=PIXELS)


def frames() -> list[Image.Image]:
    return [Image.new("RGB", (16, 16), color) for color in ("red", "green", "blue")]


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "GIF"])
def test_animated_images_are_unsupported(fmt: str) -> None:
    first, *rest = frames()
    data = encode(first, fmt, save_all=True, append_images=rest, duration=100, loop=0)
    with pytest.raises(UnsupportedFormat):
        image_decode(data=data, max_pixels=PIXELS)


# --- data URLs ----------------------------------------------------------------------------------


def data_url(data: bytes, media: str = "image/png") -> str:
    return f"data:{media};base64,{base64.b64encode(data).decode()}"


def test_a_data_url_loads() -> None:
    png = encode(photo(), "PNG")
    assert image_from_data_url(data_url=data_url(png), max_bytes=MB) == png
    image = image_load(source=data_url(png), max_bytes=MB, max_pixels=PIXELS)
    assert image.size == (64, 48)


def test_a_wrapped_data_url_loads() -> None:
    png = encode(photo(), "PNG")
    wrapped = base64.encodebytes(png).decode()  # MIME style: a newline every 76 characters
    assert image_from_data_url(data_url=f"data:image/png;base64,{wrapped}", max_bytes=MB) == png


def test_an_oversize_data_url_is_refused_before_decoding() -> None:
    """Over the cap and not even base64: the size is judged first, so 413, not 400."""
    with pytest.raises(FileTooLarge):
        image_from_data_url(data_url="data:image/png;base64," + "!" * 2000, max_bytes=1000)


def test_a_data_url_just_over_the_cap_is_refused() -> None:
    png = encode(photo(), "PNG")
    with pytest.raises(FileTooLarge):
        image_from_data_url(data_url=data_url(png), max_bytes=len(png) - 1)
    assert image_from_data_url(data_url=data_url(png), max_bytes=len(png)) == png


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("data:text/html;base64,PGgxPg==", UnsupportedFormat),
        ("data:;base64,iVBORw0KGgo=", UnsupportedFormat),
        ("data:image/png,%89PNG", InvalidRequest),
        ("data:image/png;base64,not*base64", InvalidRequest),
        ("data:image/png;base64", InvalidRequest),
    ],
)
def test_malformed_data_urls_are_refused(url: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        image_from_data_url(data_url=url, max_bytes=MB)


def test_a_data_url_whose_media_type_lies_is_judged_by_its_content() -> None:
    gif = data_url(encode(photo(), "GIF"), media="image/png")
    with pytest.raises(UnsupportedFormat):
        image_load(source=gif, max_bytes=MB, max_pixels=PIXELS)


def test_a_bomb_in_a_data_url_is_refused() -> None:
    with pytest.raises(FileTooLarge):
        image_load(source=data_url(png_bomb(20000, 20000)), max_bytes=MB, max_pixels=PIXELS)


# --- uploads ------------------------------------------------------------------------------------


def test_an_upload_loads() -> None:
    upload = SimpleUploadedFile("photo.jpg", encode(photo(), "JPEG"), content_type="image/jpeg")
    image = image_load(source=upload, max_bytes=MB, max_pixels=PIXELS)
    assert image.size == (64, 48) and image.mode == "RGB"


class UnreadableUpload(UploadedFile):
    def chunks(self, chunk_size: int | None = None) -> Any:
        raise AssertionError("the upload was read")


def test_an_oversize_upload_is_refused_before_reading() -> None:
    upload = UnreadableUpload(file=io.BytesIO(), name="big.png", size=MB + 1)
    with pytest.raises(FileTooLarge):
        image_from_upload(upload=upload, max_bytes=MB)


def test_an_upload_that_understates_its_size_is_cut_at_the_cap() -> None:
    upload = UploadedFile(file=io.BytesIO(b"\0" * (3 * MB)), name="big.png", size=10)
    with pytest.raises(FileTooLarge):
        image_from_upload(upload=upload, max_bytes=MB)


def test_an_upload_in_another_format_is_unsupported_whatever_its_name() -> None:
    upload = SimpleUploadedFile("photo.png", encode(photo(), "BMP"), content_type="image/png")
    with pytest.raises(UnsupportedFormat):
        image_load(source=upload, max_bytes=MB, max_pixels=PIXELS)
