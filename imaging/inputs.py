"""Safe image input: URLs fetched without SSRF, data URLs and uploads under a byte cap, and a
decoder that accepts only still JPEG, PNG and WebP images within the plan's pixel cap.
Details: docs/api.md#safe-image-input-imaginginputspy"""

from __future__ import annotations

import base64
import binascii
import contextvars
import io
import math
import re
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

import httpx
import numpy as np
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import ApplicationError, FileTooLarge, InvalidRequest, UnsupportedFormat
from core.outgoing import (
    OUTGOING_SCHEMES,
    Deadline,
    IPAddress,
    outgoing_url_addresses,
    outgoing_url_parse,
    pinned_client,
    timed_out,
    url_scheme,
)
from imaging.engine import shapes

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
MAX_REDIRECTS = 3
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
READ_CHUNK_BYTES = 64 * 1024
USER_AGENT = "NanoBanana-ImageFetcher/1.0"
# One request's URLs are fetched at most this many at a time (a batch holds up to 20): enough that
# a batch costs about one deadline, few enough that one request cannot open dozens of connections.
MAX_CONCURRENT_FETCHES = 8

# Magic numbers of the accepted formats: a file that starts like one but does not open is corrupt
# (400), anything else is another format (415).
_ALLOWED_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")
_DATA_URL = re.compile(r"data:(?P<media>[^,;]*)(?P<params>(?:;[^,;]*)*),", re.IGNORECASE)

ImageSource = str | UploadedFile


# --- entry points for the API ------------------------------------------------------------------


def images_load(
    *, sources: Sequence[ImageSource], operation: str, max_bytes: int, max_pixels: int
) -> list[Image.Image]:
    """All the images of one request, in order, each read and decoded safely and in a shape
    `operation` takes. Their URLs are fetched concurrently and share one deadline; as soon as a
    source fails, its failure is the answer (the earliest in source order of those failed by
    then) and the other fetches are cut short."""
    deadline = fetch_deadline()
    language = translation.get_language()

    def read(source: ImageSource) -> bytes:
        # The active language is per thread: errors made in the pool speak the client's too.
        with translation.override(language):
            return image_bytes(source=source, max_bytes=max_bytes, deadline=deadline)

    if len(sources) <= 1:
        payloads = [read(source) for source in sources]
    else:
        payloads = _read_concurrently(read, sources, deadline=deadline)
    # Decoded one by one on the request's thread: image_decode's warning filter is process-wide.
    images = [image_decode(data=data, max_pixels=max_pixels) for data in payloads]
    for image in images:
        image_shape_check(operation=operation, image=image)
    return images


def image_load(
    *, source: ImageSource, max_bytes: int, max_pixels: int, deadline: Deadline | None = None
) -> Image.Image:
    """An http(s) URL, a `data:image/...;base64,` URL or an upload, read and decoded safely."""
    data = image_bytes(source=source, max_bytes=max_bytes, deadline=deadline)
    return image_decode(data=data, max_pixels=max_pixels)


def image_bytes(*, source: ImageSource, max_bytes: int, deadline: Deadline | None = None) -> bytes:
    """The undecoded bytes of an image source, at most `max_bytes` (a URL within `deadline`)."""
    if isinstance(source, UploadedFile):
        return image_from_upload(upload=source, max_bytes=max_bytes)
    if isinstance(source, str) and url_scheme(source[:64]) == "data":
        return image_from_data_url(data_url=source.strip(), max_bytes=max_bytes)
    if isinstance(source, str):
        return image_fetch(url=source.strip(), max_bytes=max_bytes, deadline=deadline)
    raise InvalidRequest(_("The image must be a URL, a data URL or an uploaded file."))


def image_shape_check(*, operation: str, image: Image.Image) -> None:
    """InvalidRequest when `operation` cannot take an image of this shape: refused at submit,
    before any charge, rather than charged, failed by the engine and refunded."""
    width, height = image.size
    if not shapes.input_shape_accepted(operation=operation, width=width, height=height):
        raise InvalidRequest(
            _(
                "The image is %(width)dx%(height)d pixels; for this operation its long side may "
                "be at most %(ratio)d times its short side."
            )
            % {"width": width, "height": height, "ratio": shapes.MAX_ASPECT_RATIO}
        )


def image_source_supported(raw: str) -> bool:
    """Whether a string names a kind of image source this API takes, whatever the case of its
    scheme: an http(s) URL (`scheme://...`) or a data URL of an image (`data:image/...`). The
    source itself is judged when it is loaded."""
    scheme = url_scheme(raw)
    rest = raw.lstrip()[len(scheme) + 1 :]
    if scheme == "data":
        return rest.lower().startswith("image/")
    return scheme in OUTGOING_SCHEMES and rest.startswith("//")


def _read_concurrently(
    read: Callable[[ImageSource], bytes], sources: Sequence[ImageSource], *, deadline: Deadline
) -> list[bytes]:
    pool = ThreadPoolExecutor(
        max_workers=min(MAX_CONCURRENT_FETCHES, len(sources)), thread_name_prefix="image-fetch"
    )
    try:
        # Each fetch runs in a copy of the request's context, so its log lines carry the
        # request id.
        futures = [pool.submit(contextvars.copy_context().run, read, source) for source in sources]
        wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:
            if future.done() and future.exception() is not None:
                # The request is answered now: fetches still running stop at their next socket
                # operation (a read already waiting ends by the deadline at the latest).
                deadline.expire()
                raise future.exception()
        return [future.result() for future in futures]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


# --- uploads and data URLs ----------------------------------------------------------------------


def image_from_upload(*, upload: UploadedFile, max_bytes: int) -> bytes:
    """The upload's bytes, refused before reading when its size is over the cap."""
    if upload.size is not None and upload.size > max_bytes:
        raise _too_large(max_bytes)
    buffer = bytearray()
    for chunk in upload.chunks(chunk_size=READ_CHUNK_BYTES):
        buffer += chunk
        if len(buffer) > max_bytes:
            raise _too_large(max_bytes)
    return bytes(buffer)


def image_from_data_url(*, data_url: str, max_bytes: int) -> bytes:
    """The bytes of a base64 `data:image/...` URL, its size judged on the text before decoding."""
    match = _DATA_URL.match(data_url)
    if match is None:
        raise InvalidRequest(_("The data URL is malformed."))
    media = match["media"].strip().lower()
    params = [param.strip().lower() for param in match["params"].split(";")[1:]]
    if not media.startswith("image/"):
        raise UnsupportedFormat(_("The data URL must hold an image (data:image/...)."))
    if "base64" not in params:
        raise InvalidRequest(_("The data URL must be base64-encoded (;base64,)."))
    payload = data_url[match.end() :]
    encoded_limit = 4 * math.ceil(max_bytes / 3)
    # Line breaks are tolerated (wrapped base64), so the raw text gets a little room for them.
    if len(payload) > encoded_limit + encoded_limit // 32 + 4:
        raise _too_large(max_bytes)
    if any(char.isspace() for char in payload):
        payload = "".join(payload.split())
        if len(payload) > encoded_limit:
            raise _too_large(max_bytes)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(_("The data URL is not valid base64.")) from None
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    return data


# --- decoding -----------------------------------------------------------------------------------


def image_decode(*, data: bytes, max_pixels: int) -> Image.Image:
    """A still JPEG, PNG or WebP image, oriented upright, in RGB (RGBA when it has alpha)."""
    if not data:
        raise InvalidRequest(_("The image is empty."))
    try:
        # Not thread-safe before Python 3.14 (the filter list is global), which is why the pixel
        # cap below is checked explicitly too: it is the guard that does not depend on warnings.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            width, height = image.size
            if width <= 0 or height <= 0:
                raise InvalidRequest(_("The image has no pixels."))
            if width * height > max_pixels:
                raise FileTooLarge(
                    _("The image is %(width)dx%(height)d pixels; the limit is %(limit)d pixels.")
                    % {"width": width, "height": height, "limit": max_pixels}
                )
            if getattr(image, "is_animated", False) or getattr(image, "n_frames", 1) > 1:
                raise UnsupportedFormat(_("Animated images are not supported."))
            image.load()
            upright = _upright(image)
            wanted = "RGBA" if upright.has_transparency_data else "RGB"
            if upright.mode.startswith("I"):
                upright = _eight_bit(upright)
            return upright if upright.mode == wanted else upright.convert(wanted)
    except ApplicationError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise FileTooLarge(_("The image has too many pixels.")) from None
    except UnidentifiedImageError:
        if data.startswith(_ALLOWED_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
            raise InvalidRequest(_("The image is corrupt or truncated.")) from None
        raise UnsupportedFormat(_("Only JPEG, PNG and WebP images are supported.")) from None
    except Exception:
        # Decoders fed hostile bytes raise many kinds of errors (OSError for truncation,
        # SyntaxError, ValueError, EOFError, struct.error...): all mean a broken file.
        raise InvalidRequest(_("The image is corrupt or truncated.")) from None


def _upright(image: Image.Image) -> Image.Image:
    """The image as its EXIF orientation says; an unreadable EXIF block leaves it as stored
    (its pixels are fine, and a JPEG with the same garbage decodes too)."""
    try:
        return ImageOps.exif_transpose(image) or image
    except Exception:
        return image


def _eight_bit(image: Image.Image) -> Image.Image:
    """16- and 32-bit greyscale (PNG's I;16, I) scaled to 8 bits: Pillow's convert() clips every
    value above 255 to white instead. A single transparent grey level becomes an alpha channel."""
    values = np.asarray(image, dtype=np.uint32)
    bits = 16 if image.mode.startswith("I;16") or values.max(initial=0) <= 0xFFFF else 32
    grey = Image.fromarray((values >> (bits - 8)).astype(np.uint8), mode="L")
    key = image.info.get("transparency")
    if isinstance(key, int):
        alpha = Image.fromarray(np.where(values == key, 0, 255).astype(np.uint8), mode="L")
        return Image.merge("LA", (grey, alpha))
    return grey


# --- fetching -----------------------------------------------------------------------------------


def fetch_deadline() -> Deadline:
    """The one deadline of a request's image fetches, all of them together."""
    return Deadline(float(settings.IMAGE_FETCH_TIMEOUT_SECONDS))


def image_fetch(*, url: str, max_bytes: int, deadline: Deadline | None = None) -> bytes:
    """The body of an http(s) URL on a public address, at most `max_bytes`, within `deadline`
    (a fresh `fetch_deadline()` when none is shared)."""
    if deadline is None:
        deadline = fetch_deadline()
    current = outgoing_url_parse(url)
    for _hop in range(MAX_REDIRECTS + 1):
        addresses = outgoing_url_addresses(current, deadline=deadline)
        body, location = _fetch_once(current, addresses, deadline=deadline, max_bytes=max_bytes)
        if location is None:
            return body
        current = outgoing_url_parse(location, base=current)
    raise InvalidRequest(
        _("The image URL redirected more than %(count)d times.") % {"count": MAX_REDIRECTS}
    )


def _fetch_once(
    url: httpx.URL, addresses: list[IPAddress], *, deadline: Deadline, max_bytes: int
) -> tuple[bytes, str | None]:
    """One request: the body, or the redirect's Location. Vetted addresses are tried in order."""
    for index, address in enumerate(addresses):
        try:
            return _request(url, address, deadline=deadline, max_bytes=max_bytes)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            deadline.left()
            if index == len(addresses) - 1:
                raise InvalidRequest(_("The image URL could not be reached.")) from None
        except httpx.TimeoutException:
            raise timed_out() from None
        except httpx.HTTPError:
            raise InvalidRequest(_("The image URL could not be fetched.")) from None
    raise AssertionError("unreachable: addresses is never empty")


def _request(
    url: httpx.URL, address: IPAddress, *, deadline: Deadline, max_bytes: int
) -> tuple[bytes, str | None]:
    client = pinned_client(
        host=url.raw_host.decode("ascii"),
        address=address,
        deadline=deadline,
        timeout=httpx.Timeout(
            float(settings.IMAGE_FETCH_TIMEOUT_SECONDS),
            connect=float(settings.IMAGE_FETCH_CONNECT_TIMEOUT_SECONDS),
        ),
    )
    headers = {"User-Agent": USER_AGENT, "Accept": "image/*", "Accept-Encoding": "identity"}
    with client, client.stream("GET", url, headers=headers) as response:
        if response.status_code in REDIRECT_STATUSES:
            location = response.headers.get("location")
            if not location:
                raise InvalidRequest(_("The image URL redirected without a location."))
            return b"", location
        if not 200 <= response.status_code < 300:
            raise InvalidRequest(
                _("The image URL answered with HTTP status %(status)d.")
                % {"status": response.status_code}
            )
        if response.headers.get("content-encoding", "identity").strip().lower() != "identity":
            raise InvalidRequest(_("The image URL answered with an encoded (compressed) body."))
        declared = response.headers.get("content-length", "")
        if declared.strip().isdigit() and int(declared) > max_bytes:
            raise _too_large(max_bytes)
        body = bytearray()
        for chunk in response.iter_raw(READ_CHUNK_BYTES):
            body += chunk
            if len(body) > max_bytes:
                raise _too_large(max_bytes)
        return bytes(body), None


def _too_large(max_bytes: int) -> FileTooLarge:
    return FileTooLarge(
        _("The image is larger than the limit of %(limit)s bytes.") % {"limit": max_bytes}
    )
