"""Safe image input: URLs fetched without SSRF, data URLs and uploads under a byte cap, and a
decoder that accepts only still JPEG, PNG and WebP images within the plan's pixel cap.

Every source ends in `image_decode`, so a file is judged by what Pillow finds in it, never by its
name, Content-Type or data-URL media type. `images_load` takes all the images of one request: their
URLs are fetched concurrently under one deadline (`IMAGE_FETCH_TIMEOUT_SECONDS` is per request, so
six slow URLs cost one deadline, not six), and each image is held to the engine's shape rule for
the operation (`imaging.engine.shapes`) before anything is charged.

URL schemes are case-insensitive (RFC 3986 section 3.1): `url_scheme` is the one reading of a
scheme for image sources, and `outgoing_url_parse` (image fetches, their redirects and webhooks)
normalises it, so `HTTP://` means `http://` everywhere.

Fetching (`image_fetch`):
- http/https only, no credentials in the URL, at most `MAX_REDIRECTS` redirects followed by hand,
  each new location parsed and vetted like the first.
- The host is resolved once (`socket.getaddrinfo`); every address it resolves to must be public
  (`_address_is_public`: IPv4-mapped, NAT64 and 6to4 forms are judged by the IPv4 address inside).
- The connection goes to the vetted address: `_PinnedBackend` is httpcore's network backend with
  `connect_tcp` pointed at that address, so httpx never resolves the name again, while the URL,
  the Host header, TLS SNI and certificate checks all keep the hostname. httpx takes no network
  backend argument, so `_PinnedTransport` swaps the pool of an `httpx.HTTPTransport` for one that
  has it (httpx's own request/response mapping and exception translation stay in use).
- One deadline covers DNS, every connect, TLS handshake, read and write across all hops and all
  the URLs of one request: each socket operation is given at most the time left, so a slow-drip
  body cannot outlive it.
- The body is streamed with a byte cap (`FileTooLarge` as soon as it is passed, or up front from
  Content-Length); bodies are asked for and accepted only without content coding, so no gzip bomb.

Decoding (`image_decode`): `Image.open(..., formats=ALLOWED_FORMATS)` so no other decoder runs; the
size is checked against the pixel cap (and Pillow's bomb warning made an error) before any pixel is
decoded; animations refused; EXIF orientation applied; RGB, or RGBA when the image has alpha.
Too many pixels is `FileTooLarge` (413): the image is too large, just not in bytes.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import functools
import io
import ipaddress
import math
import re
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any

import httpcore
import httpx
import numpy as np
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import ApplicationError, FileTooLarge, InvalidRequest, UnsupportedFormat
from imaging.engine import shapes

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
MAX_REDIRECTS = 3
MAX_URL_LENGTH = 4096
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
READ_CHUNK_BYTES = 64 * 1024
USER_AGENT = "NanoBanana-ImageFetcher/1.0"
OUTGOING_SCHEMES = ("http", "https")
# One request's URLs are fetched at most this many at a time (a batch holds up to 20): enough that
# a batch costs about one deadline, few enough that one request cannot open dozens of connections.
MAX_CONCURRENT_FETCHES = 8

# The well-known NAT64 prefix carries an IPv4 address in its last 32 bits; the local-use one
# (RFC 8215) and the deprecated IPv4-compatible form are never a public destination.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
# Magic numbers of the accepted formats: a file that starts like one but does not open is corrupt
# (400), anything else is another format (415).
_ALLOWED_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")
_DATA_URL = re.compile(r"data:(?P<media>[^,;]*)(?P<params>(?:;[^,;]*)*),", re.IGNORECASE)
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")

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
    *, source: ImageSource, max_bytes: int, max_pixels: int, deadline: _Deadline | None = None
) -> Image.Image:
    """An http(s) URL, a `data:image/...;base64,` URL or an upload, read and decoded safely."""
    data = image_bytes(source=source, max_bytes=max_bytes, deadline=deadline)
    return image_decode(data=data, max_pixels=max_pixels)


def image_bytes(*, source: ImageSource, max_bytes: int, deadline: _Deadline | None = None) -> bytes:
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


def url_scheme(raw: str) -> str:
    """A URL's scheme in lower case, "" when it has none. Schemes are case-insensitive (RFC 3986
    section 3.1), so this is the one reading of them for image sources and outgoing URLs."""
    match = _SCHEME.match(raw.lstrip())
    return match[1].lower() if match else ""


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
    read: Callable[[ImageSource], bytes], sources: Sequence[ImageSource], *, deadline: _Deadline
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


def fetch_deadline() -> _Deadline:
    """The one deadline of a request's image fetches, all of them together."""
    return _Deadline(float(settings.IMAGE_FETCH_TIMEOUT_SECONDS))


def image_fetch(*, url: str, max_bytes: int, deadline: _Deadline | None = None) -> bytes:
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


class UrlRefused(InvalidRequest):
    """A URL this server will not fetch from or post to; `reason` is the sentence alone."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def outgoing_url_parse(
    raw: str, *, base: httpx.URL | None = None, max_length: int = MAX_URL_LENGTH
) -> httpx.URL:
    """The one shape rule for every outgoing request (image fetches, their redirects, webhooks):
    http or https, no credentials, a host; the fragment dropped. UrlRefused otherwise."""
    if len(raw) > max_length:
        raise UrlRefused(_("The URL is longer than %(limit)d characters.") % {"limit": max_length})
    try:
        url = base.join(raw) if base is not None else httpx.URL(raw)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise UrlRefused(_("This is not a valid URL.")) from None
    # httpx lower-cases the scheme (and the host): `HTTP://` passes as `http://`.
    if url.scheme not in OUTGOING_SCHEMES:
        raise UrlRefused(_("The URL must use http or https."))
    if url.userinfo:
        raise UrlRefused(_("The URL must not contain credentials."))
    if not url.raw_host:
        raise UrlRefused(_("The URL has no host."))
    return url.copy_with(fragment=None)


def outgoing_url_addresses(url: httpx.URL, *, deadline: _Deadline) -> list[IPAddress]:
    """The host's addresses from one DNS lookup, all of them public unless the host is listed;
    UrlRefused otherwise (InvalidRequest when the lookup outlasts the deadline)."""
    host = url.raw_host.decode("ascii")
    addresses = _resolve(host, url.port or (443 if url.scheme == "https" else 80), deadline)
    if not host_addresses_allowed(host, addresses):
        raise UrlRefused(_("The URL points to an address that is not public."))
    return addresses


def host_addresses_allowed(host: str, addresses: list[IPAddress]) -> bool:
    """The one SSRF rule for every outgoing request (image fetches, webhooks): all addresses
    public, unless the host is in NANOBANANA_FETCH_ALLOW_HOSTS (development and tests only)."""
    allowed_hosts = {
        name.strip().strip("[]").lower() for name in settings.NANOBANANA_FETCH_ALLOW_HOSTS
    }
    return host.lower() in allowed_hosts or all(map(_address_is_public, addresses))


def _resolve(host: str, port: int, deadline: _Deadline) -> list[IPAddress]:
    # getaddrinfo takes no timeout: it runs in a thread so the deadline still holds.
    outcome: dict[str, Any] = {}

    def lookup() -> None:
        try:
            outcome["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=lookup, name="image-fetch-dns", daemon=True)
    worker.start()
    worker.join(deadline.left())
    if worker.is_alive():
        raise _timed_out()
    addresses: list[IPAddress] = []
    for family, _type, _proto, _name, sockaddr in outcome.get("infos", []):
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UrlRefused(_("The URL's host could not be resolved."))
    return addresses


def _address_is_public(address: IPAddress) -> bool:
    """Whether an address may be fetched from: globally routable and not special in any way."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return _address_is_public(address.ipv4_mapped)
        if address in _NAT64:
            return _address_is_public(ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF))
        if address in _NAT64_LOCAL_USE or address in _IPV4_COMPATIBLE:
            return False
        if address.sixtofour is not None and not _address_is_public(address.sixtofour):
            return False
        if address.teredo is not None or address.is_site_local:
            return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _fetch_once(
    url: httpx.URL, addresses: list[IPAddress], *, deadline: _Deadline, max_bytes: int
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
            raise _timed_out() from None
        except httpx.HTTPError:
            raise InvalidRequest(_("The image URL could not be fetched.")) from None
    raise AssertionError("unreachable: addresses is never empty")


def pinned_client(
    *, host: str, address: IPAddress, deadline: _Deadline, timeout: httpx.Timeout
) -> httpx.Client:
    """The one way to talk to a vetted outside host (image fetches, webhooks): connects to the
    vetted `address` only (the hostname stays for TLS/SNI), never follows redirects (each hop is
    vetted by the caller) and ignores proxy settings from the environment (a proxy would connect
    somewhere unvetted)."""
    backend = _PinnedBackend(host=host, address=address, deadline=deadline)
    return httpx.Client(
        transport=_PinnedTransport(backend=backend),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )


def _request(
    url: httpx.URL, address: IPAddress, *, deadline: _Deadline, max_bytes: int
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


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def expire(self) -> None:
        """Cut it short: every later socket operation under it times out at once."""
        self._end = time.monotonic()

    def left(self) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise _timed_out()
        return left

    def bound(self, timeout: float | None) -> float:
        """A socket operation's timeout, cut to the time left; past the deadline, a timeout."""
        left = self._end - time.monotonic()
        if left <= 0:
            raise httpcore.TimeoutException("image fetch deadline passed")
        return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read, write and handshake ends by the fetch's deadline."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, timeout=self._deadline.bound(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, timeout=self._deadline.bound(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._stream.start_tls(
            ssl_context, server_hostname=server_hostname, timeout=self._deadline.bound(timeout)
        )
        return _DeadlineStream(stream, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects to the vetted address only, and only for the host that was vetted."""

    def __init__(self, *, host: str, address: IPAddress, deadline: _Deadline) -> None:
        self._host = host
        self._address = address
        self._deadline = deadline
        self._sync = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        if host != self._host:
            raise httpcore.ConnectError("refusing to connect to a host that was not vetted")
        stream = self._sync.connect_tcp(
            str(self._address),
            port,
            timeout=self._deadline.bound(timeout),
            local_address=local_address,
            socket_options=socket_options,
        )
        return _DeadlineStream(stream, self._deadline)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are never used for image fetches")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _PinnedTransport(httpx.HTTPTransport):
    """httpx's transport on a pool that connects through `_PinnedBackend`."""

    def __init__(self, *, backend: _PinnedBackend) -> None:
        context = _ssl_context()
        super().__init__(verify=context, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=1,
            http1=True,
            http2=False,
            retries=0,
            network_backend=backend,
        )


def _ssl_context() -> ssl.SSLContext:
    """Certificates verified against the URL's hostname (tests swap in their own CA)."""
    return _default_ssl_context()


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs tens of milliseconds; one context serves every connection.
    return httpx.create_ssl_context(trust_env=False)


def _too_large(max_bytes: int) -> FileTooLarge:
    return FileTooLarge(
        _("The image is larger than the limit of %(limit)s bytes.") % {"limit": max_bytes}
    )


def _timed_out() -> InvalidRequest:
    return InvalidRequest(_("Fetching the image URL took too long."))
