"""Hostile input, fuzzed: whatever bytes or data URL arrive, the decoders answer a clean
InvalidRequest, UnsupportedFormat or FileTooLarge, or an upright RGB/RGBA image within the pixel
cap; never another exception (UnidentifiedImageError, DecompressionBombError, OSError, ...).

The seeds are real encodings of every kind the issue names (truncated, corrupt, bomb headers,
animated, CMYK, 16-bit, palette + transparency, LA, 1-bit, EXIF orientation, zero size);
hypothesis cuts, corrupts and re-labels them. Bounded: 300 examples a property, about 10 s here.
"""

from __future__ import annotations

import base64
import io
import struct
import time
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from core.errors import ApplicationError, FileTooLarge, InvalidRequest, UnsupportedFormat
from imaging.inputs import image_decode, image_from_data_url, image_from_upload, image_load

CLEAN_ERRORS = (InvalidRequest, UnsupportedFormat, FileTooLarge)
MAX_PIXELS = 4_000_000
MAX_BYTES = 256 * 1024
# A bomb is refused from its header: nothing is decoded, so this is generous.
BOMB_SECONDS = 2.0

# Pillow warns (and carries on) on the EXIF and APNG garbage these tests feed it on purpose.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning"),
    pytest.mark.filterwarnings("ignore:Invalid APNG:UserWarning"),
]

fuzz = settings(
    max_examples=300,
    deadline=None,  # a shared CI machine: time is asserted where it matters (bombs)
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- seeds: real encodings of every kind the decoder must survive ------------------------------


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def photo(size: tuple[int, int] = (48, 40), mode: str = "RGB") -> Image.Image:
    """Not flat, so lossy codecs and truncation have real content to bite on."""
    grey = Image.linear_gradient("L").resize(size)
    image = Image.merge("RGB", (grey, grey.rotate(90), Image.effect_noise(size, 64))).convert(mode)
    if mode in ("RGBA", "LA"):
        image.putalpha(grey)  # really translucent: an opaque alpha may be dropped by encoders
    return image


def oriented(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def grey16(size: tuple[int, int] = (48, 40)) -> Image.Image:
    """A 16-bit greyscale ramp over the whole 0..65535 range (mode I;16)."""
    width, height = size
    row = b"".join(struct.pack("<H", x * 65535 // (width - 1)) for x in range(width))
    return Image.frombytes("I;16", size, row * height)


def animation(fmt: str, **options: Any) -> bytes:
    first, *rest = (Image.new("RGB", (16, 16), color) for color in ("red", "green", "blue"))
    return encode(first, fmt, save_all=True, append_images=rest, duration=50, loop=0, **options)


STILL_SEEDS: dict[str, bytes] = {
    "jpeg": encode(photo(), "JPEG", quality=85),
    "jpeg-progressive": encode(photo(), "JPEG", progressive=True),
    "jpeg-cmyk": encode(photo(mode="CMYK"), "JPEG"),
    "jpeg-grey": encode(photo(mode="L"), "JPEG"),
    "jpeg-exif-orientation-6": encode(photo(), "JPEG", exif=oriented(6)),
    "jpeg-exif-orientation-8": encode(photo(), "JPEG", exif=oriented(8)),
    "png-rgb": encode(photo(), "PNG"),
    "png-rgba": encode(photo(mode="RGBA"), "PNG"),
    "png-interlaced": encode(photo(), "PNG", interlace=True),
    "png-palette-transparency": encode(photo(mode="P"), "PNG", transparency=0),
    "png-la": encode(photo(mode="LA"), "PNG"),
    "png-1bit": encode(photo(mode="1"), "PNG"),
    "png-16bit": encode(grey16(), "PNG"),
    "png-exif-orientation-5": encode(photo(), "PNG", exif=oriented(5)),
    "webp-lossy": encode(photo(), "WEBP", quality=80),
    "webp-lossless-rgba": encode(photo(mode="RGBA"), "WEBP", lossless=True),
    "webp-exif-orientation-3": encode(photo(), "WEBP", exif=oriented(3)),
}
ANIMATED_SEEDS: dict[str, bytes] = {
    "gif-animated": animation("GIF"),
    "webp-animated": animation("WEBP"),
    "apng": animation("PNG"),
}
OTHER_SEEDS: dict[str, bytes] = {"gif": encode(photo(mode="P"), "GIF")}
SEEDS = {**STILL_SEEDS, **ANIMATED_SEEDS, **OTHER_SEEDS}


def decoded_or_refused(data: bytes, *, max_pixels: int = MAX_PIXELS) -> Image.Image | Exception:
    """The contract, checked: a clean refusal, or an RGB/RGBA image within the cap. Any other
    exception is not caught here, so hypothesis reports it with the input that raised it."""
    try:
        image = image_decode(data=data, max_pixels=max_pixels)
    except CLEAN_ERRORS as error:
        assert str(error)  # its lazy message renders
        return error
    width, height = image.size
    assert image.mode in ("RGB", "RGBA")
    assert 0 < width * height <= max_pixels
    image.getpixel((width - 1, height - 1))  # the pixels are really there
    return image


# --- the seeds themselves, unharmed -------------------------------------------------------------


@pytest.mark.parametrize("name", STILL_SEEDS)
def test_every_still_seed_decodes_upright(name: str) -> None:
    image = decoded_or_refused(STILL_SEEDS[name])
    assert isinstance(image, Image.Image), image
    swapped = any(f"orientation-{turn}" in name for turn in (5, 6, 7, 8))
    assert image.size == ((40, 48) if swapped else (48, 40))


@pytest.mark.parametrize("name", [*ANIMATED_SEEDS, *OTHER_SEEDS])
def test_animations_and_gifs_are_unsupported(name: str) -> None:
    assert isinstance(decoded_or_refused(SEEDS[name]), UnsupportedFormat)


def test_palette_transparency_and_la_keep_their_alpha() -> None:
    for name in ("png-palette-transparency", "png-la", "png-rgba", "webp-lossless-rgba"):
        image = decoded_or_refused(STILL_SEEDS[name])
        assert isinstance(image, Image.Image) and image.mode == "RGBA", name


def test_a_16_bit_greyscale_png_keeps_its_tones() -> None:
    image = decoded_or_refused(STILL_SEEDS["png-16bit"])
    assert isinstance(image, Image.Image)
    middle = image.getpixel((24, 20))[0]  # 24/47 of 65535 is 128 in 8 bits
    assert 110 < middle < 145, middle


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_an_image_with_unreadable_exif_still_decodes(fmt: str) -> None:
    data = encode(photo(), fmt, exif=b"Exif\x00\x00not a TIFF header at all")
    assert isinstance(decoded_or_refused(data), Image.Image)


# --- truncation and corruption ------------------------------------------------------------------

seed_names = st.sampled_from(sorted(SEEDS))


@fuzz
@given(name=seed_names, cut=st.floats(0.0, 1.0, exclude_max=True))
def test_images_cut_anywhere_are_refused_cleanly_or_decode(name: str, cut: float) -> None:
    data = SEEDS[name]
    truncated = data[: int(len(data) * cut)]
    outcome = decoded_or_refused(truncated)
    if name in ANIMATED_SEEDS or name in OTHER_SEEDS:
        assert not isinstance(outcome, Image.Image)


@st.composite
def corrupted(draw: st.DrawFn) -> bytes:
    """A seed with a few bytes overwritten, deleted or inserted anywhere."""
    data = bytearray(SEEDS[draw(seed_names)])
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["set", "delete", "insert", "flip"]))
        if kind == "set":
            data[position] = draw(st.integers(0, 255))
        elif kind == "flip":
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif kind == "delete":
            del data[position : position + draw(st.integers(1, 64))]
        else:
            data[position:position] = draw(st.binary(min_size=1, max_size=64))
        if not data:
            break
    return bytes(data)


@fuzz
@given(data=corrupted())
def test_corrupted_images_are_refused_cleanly_or_decode(data: bytes) -> None:
    decoded_or_refused(data)


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, offset = [], 8
    while offset + 8 <= len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        chunks.append((kind, data[offset + 8 : offset + 8 + length]))
        offset += 12 + length
    return chunks


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_build(chunks: list[tuple[bytes, bytes]]) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"".join(png_chunk(kind, body) for kind, body in chunks)


PNG_SEEDS = sorted(name for name in SEEDS if name.startswith(("png", "apng")))


@st.composite
def png_corrupted_with_valid_crcs(draw: st.DrawFn) -> bytes:
    """Corruption inside a chunk with its CRC recomputed, so the decoder gets past the checksum
    into IHDR fields, palettes, tRNS, acTL/fcTL and the zlib stream."""
    chunks = png_chunks(SEEDS[draw(st.sampled_from(PNG_SEEDS))])
    index = draw(st.integers(0, len(chunks) - 1))
    kind, body = chunks[index]
    body = bytearray(body)
    if body:
        for _ in range(draw(st.integers(1, 4))):
            body[draw(st.integers(0, len(body) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        body = body[: draw(st.integers(0, len(body)))]
    chunks[index] = (kind, bytes(body))
    if draw(st.booleans()):  # a chunk repeated or moved: two IHDRs, IDAT before PLTE, ...
        chunks.insert(draw(st.integers(0, len(chunks))), chunks[draw(st.integers(0, index))])
    return png_build(chunks)


@fuzz
@given(data=png_corrupted_with_valid_crcs())
def test_pngs_corrupt_past_their_checksums_are_refused_cleanly_or_decode(data: bytes) -> None:
    decoded_or_refused(data)


@fuzz
@given(
    prefix=st.sampled_from([b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"BM"]),
    riff=st.booleans(),
    tail=st.binary(max_size=2048),
)
def test_random_bytes_are_refused_cleanly(prefix: bytes, riff: bool, tail: bytes) -> None:
    if riff:
        prefix = b"RIFF" + struct.pack("<I", len(tail) + 4) + b"WEBP" + prefix
    decoded_or_refused(prefix + tail)


def test_zero_bytes_is_an_invalid_request() -> None:
    assert isinstance(decoded_or_refused(b""), InvalidRequest)


# --- bombs: headers that claim huge dimensions ---------------------------------------------------


def png_with_size(width: int, height: int, *, bit_depth: int = 8, color_type: int = 2) -> bytes:
    """The RGB seed's chunks under an IHDR claiming width x height (valid CRCs throughout)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    chunks = [(b"IHDR", header), *png_chunks(STILL_SEEDS["png-rgb"])[1:]]
    return png_build(chunks)


def jpeg_with_size(width: int, height: int) -> bytes:
    """The baseline JPEG seed with its SOF0 frame header claiming width x height."""
    data = bytearray(STILL_SEEDS["jpeg"])
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gif_with_size(width: int, height: int) -> bytes:
    """The GIF seed with its logical screen and first image descriptor claiming the size."""
    data = bytearray(OTHER_SEEDS["gif"])
    data[6:10] = struct.pack("<HH", width, height)
    descriptor = data.index(b",", 13)
    data[descriptor + 5 : descriptor + 9] = struct.pack("<HH", width, height)
    return bytes(data)


def webp_with_size(width: int, height: int) -> bytes:
    """An extended WebP (VP8X, here for its EXIF) whose canvas claims width x height."""
    data = bytearray(STILL_SEEDS["webp-exif-orientation-3"])
    vp8x = data.index(b"VP8X")
    data[vp8x + 12 : vp8x + 18] = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(
        3, "little"
    )
    return bytes(data)


def assert_refused_quickly(data: bytes, *, max_pixels: int, expected: tuple[type, ...]) -> None:
    started = time.monotonic()
    outcome = decoded_or_refused(data, max_pixels=max_pixels)
    assert time.monotonic() - started < BOMB_SECONDS
    assert isinstance(outcome, expected), outcome


huge_side = st.integers(1, 100_000)


@fuzz
@given(width=huge_side, height=huge_side, data=st.data())
def test_pngs_claiming_more_pixels_than_the_cap_are_too_large(
    width: int, height: int, data: st.DataObject
) -> None:
    """Whatever the cap, a valid header over it is 413 from the header alone: 100000x100000
    (10 gigapixels) in a 2 KB file, or one pixel over a plan's limit."""
    assume(width * height > 1)
    cap = data.draw(st.integers(1, min(width * height - 1, 100_000_000)), label="cap")
    assert_refused_quickly(png_with_size(width, height), max_pixels=cap, expected=(FileTooLarge,))


@fuzz
@given(
    width=st.integers(0, 2**32 - 1),
    height=st.integers(0, 2**32 - 1),
    bit_depth=st.sampled_from([0, 1, 2, 4, 8, 16, 32, 255]),
    color_type=st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 255]),
)
def test_png_headers_with_any_fields_are_refused_cleanly(
    width: int, height: int, bit_depth: int, color_type: int
) -> None:
    """Zero sizes, sizes past 2**31, impossible bit depth and colour type pairs."""
    data = png_with_size(width, height, bit_depth=bit_depth, color_type=color_type)
    started = time.monotonic()
    outcome = decoded_or_refused(data, max_pixels=MAX_PIXELS)
    assert time.monotonic() - started < BOMB_SECONDS
    if width * height > MAX_PIXELS:
        assert not isinstance(outcome, Image.Image)


bomb_side = st.integers(2_001, 65_535)


@fuzz
@given(width=bomb_side, height=bomb_side)
def test_jpegs_claiming_huge_dimensions_are_too_large(width: int, height: int) -> None:
    assert_refused_quickly(
        jpeg_with_size(width, height), max_pixels=MAX_PIXELS, expected=(FileTooLarge,)
    )


@fuzz
@given(width=st.integers(2_001, 2**24), height=st.integers(2_001, 2**24))
def test_webps_claiming_huge_dimensions_are_refused(width: int, height: int) -> None:
    """libwebp checks the canvas against the frame, so a lying canvas may be corrupt (400)."""
    assert_refused_quickly(
        webp_with_size(width, height),
        max_pixels=MAX_PIXELS,
        expected=(FileTooLarge, InvalidRequest),
    )


@fuzz
@given(width=st.integers(0, 65_535), height=st.integers(0, 65_535))
def test_gifs_claiming_any_dimensions_are_unsupported(width: int, height: int) -> None:
    assert_refused_quickly(
        gif_with_size(width, height), max_pixels=MAX_PIXELS, expected=(UnsupportedFormat,)
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: png_with_size(100_000, 100_000),
        lambda: png_with_size(2**31 - 1, 2**31 - 1),
        lambda: jpeg_with_size(65_535, 65_535),
        lambda: webp_with_size(2**14, 2**14),
    ],
    ids=["png-100000x100000", "png-2^31", "jpeg-65535x65535", "webp-16384x16384"],
)
def test_bombs_are_refused_even_without_a_plan_cap(make: Callable[[], bytes]) -> None:
    """With the cap out of the way, Pillow's own bomb guard (made an error) still refuses."""
    assert_refused_quickly(make(), max_pixels=10**12, expected=(FileTooLarge, InvalidRequest))


# --- EXIF orientation, fuzzed -------------------------------------------------------------------


@fuzz
@given(
    fmt=st.sampled_from(["JPEG", "PNG", "WEBP"]),
    orientation=st.integers(0, 65_535),
    size=st.tuples(st.integers(1, 40), st.integers(1, 40)),
)
def test_any_exif_orientation_gives_an_upright_image_of_the_same_pixels(
    fmt: str, orientation: int, size: tuple[int, int]
) -> None:
    image = decoded_or_refused(encode(photo(size), fmt, exif=oriented(orientation)))
    assert isinstance(image, Image.Image)
    swapped = orientation in (5, 6, 7, 8)
    assert image.size == (size[::-1] if swapped else size)


@fuzz
@given(exif=st.binary(max_size=256))
def test_garbage_exif_in_a_jpeg_is_refused_cleanly_or_ignored(exif: bytes) -> None:
    decoded_or_refused(encode(photo(), "JPEG", exif=b"Exif\x00\x00" + exif))


@fuzz
@given(fmt=st.sampled_from(["PNG", "WEBP"]), exif=st.binary(max_size=256))
def test_garbage_exif_in_png_and_webp_is_refused_cleanly(fmt: str, exif: bytes) -> None:
    decoded_or_refused(encode(photo(), fmt, exif=exif))


# --- the pixel cap against real images ----------------------------------------------------------


@fuzz
@given(name=st.sampled_from(sorted(STILL_SEEDS)), cap=st.integers(1, 4_000))
def test_the_pixel_cap_holds_for_every_kind_of_image(name: str, cap: int) -> None:
    """The seeds are 1920 pixels: under that cap they are 413, at or over it they decode."""
    outcome = decoded_or_refused(STILL_SEEDS[name], max_pixels=cap)
    assert isinstance(outcome, FileTooLarge if cap < 48 * 40 else Image.Image)


# --- data URLs and uploads ------------------------------------------------------------------------


def data_url(data: bytes, media: str = "image/png") -> str:
    return f"data:{media};base64,{base64.b64encode(data).decode()}"


@fuzz
@given(
    text=st.text(max_size=300)
    | st.builds(lambda tail: "data:image/png;base64," + tail, st.text(max_size=300))
    | st.builds(
        lambda media, params, payload: f"data:{media}{params},{payload}",
        st.sampled_from(["image/png", "IMAGE/JPEG", "image/", "text/html", "", " image/webp "]),
        st.sampled_from(["", ";base64", ";BASE64", ";charset=utf-8;base64", ";base64;x", ";;"]),
        st.text(alphabet="ABCDabcd0123+/=\n\r \t-_.\u00e9\u2028\x00", max_size=300),
    )
)
def test_any_data_url_text_is_refused_cleanly_or_read_within_the_cap(text: str) -> None:
    try:
        data = image_from_data_url(data_url=text, max_bytes=64)
    except CLEAN_ERRORS:
        return
    assert isinstance(data, bytes) and len(data) <= 64


@fuzz
@given(name=seed_names, cut=st.floats(0.0, 1.0), media=st.sampled_from(["image/png", "image/gif"]))
def test_truncated_images_in_data_urls_load_or_are_refused_cleanly(
    name: str, cut: float, media: str
) -> None:
    data = SEEDS[name][: int(len(SEEDS[name]) * cut)]
    try:
        image = image_load(source=data_url(data, media), max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    except CLEAN_ERRORS:
        return
    assert image.mode in ("RGB", "RGBA")


@fuzz
@given(
    data=corrupted(), declared=st.none() | st.integers(0, 2 * MAX_BYTES), cap=st.integers(0, 4096)
)
def test_uploads_are_read_within_the_cap_and_decoded_or_refused_cleanly(
    data: bytes, declared: int | None, cap: int
) -> None:
    """The upload's own size may lie either way; the byte cap holds on what is actually read."""
    upload = SimpleUploadedFile("photo.png", data, content_type="image/png")
    upload.size = declared
    try:
        read = image_from_upload(upload=upload, max_bytes=cap)
    except FileTooLarge:
        assert len(data) > cap or (declared or 0) > cap
        return
    assert read == data and len(read) <= cap
    upload.seek(0)
    try:
        image = image_load(source=upload, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    except CLEAN_ERRORS:
        return
    assert image.mode in ("RGB", "RGBA")


def test_every_refusal_is_an_application_error_with_an_api_code() -> None:
    """What the API renders: the three classes map to 400, 415 and 413."""
    assert all(issubclass(error, ApplicationError) for error in CLEAN_ERRORS)
    assert [error.http_status for error in CLEAN_ERRORS] == [400, 415, 413]
