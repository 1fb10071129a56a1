"""Outgoing HTTP, the one way this server talks to hosts its users name (image URLs, webhook
callbacks): the URL shape rule, public addresses only, a pinned connection, one deadline.
Details: docs/api.md#outgoing-http"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
import ssl
import threading
import time
from typing import Any

import httpcore
import httpx
from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from core.errors import InvalidRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 4096

OUTGOING_SCHEMES = ("http", "https")

# The well-known NAT64 prefix carries an IPv4 address in its last 32 bits; the local-use one
# (RFC 8215) and the deprecated IPv4-compatible form are never a public destination.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")

_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


def url_scheme(raw: str) -> str:
    """A URL's scheme in lower case, "" when it has none. Schemes are case-insensitive (RFC 3986
    section 3.1), so this is the one reading of them for image sources and outgoing URLs."""
    match = _SCHEME.match(raw.lstrip())
    return match[1].lower() if match else ""


class UrlRefused(InvalidRequest):
    """A URL this server will not fetch from or post to; `reason` is the sentence alone."""

    def __init__(self, reason: str | Promise) -> None:
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


def outgoing_url_addresses(url: httpx.URL, *, deadline: Deadline) -> list[IPAddress]:
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


def _resolve(host: str, port: int, deadline: Deadline) -> list[IPAddress]:
    # getaddrinfo takes no timeout: it runs in a thread so the deadline still holds.
    outcome: dict[str, Any] = {}

    def lookup() -> None:
        try:
            outcome["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=lookup, name="outgoing-dns", daemon=True)
    worker.start()
    worker.join(deadline.left())
    if worker.is_alive():
        raise timed_out()
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


def pinned_client(
    *, host: str, address: IPAddress, deadline: Deadline, timeout: httpx.Timeout
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


class Deadline:
    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def expire(self) -> None:
        """Cut it short: every later socket operation under it times out at once."""
        self._end = time.monotonic()

    def left(self) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise timed_out()
        return left

    def bound(self, timeout: float | None) -> float:
        """A socket operation's timeout, cut to the time left; past the deadline, a timeout."""
        left = self._end - time.monotonic()
        if left <= 0:
            raise httpcore.TimeoutException("the deadline passed")
        return left if timeout is None else min(timeout, left)


class DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read, write and handshake ends by the fetch's deadline."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: Deadline) -> None:
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
        return DeadlineStream(stream, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects to the vetted address only, and only for the host that was vetted."""

    def __init__(self, *, host: str, address: IPAddress, deadline: Deadline) -> None:
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
        return DeadlineStream(stream, self._deadline)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are never used for outgoing requests")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _PinnedTransport(httpx.HTTPTransport):
    """httpx's transport on a pool that connects through `_PinnedBackend`."""

    def __init__(self, *, backend: _PinnedBackend) -> None:
        context = _ssl_context()
        super().__init__(verify=context, trust_env=False)
        # httpx takes no network backend argument: swap its pool for one that has ours.
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


def timed_out() -> InvalidRequest:
    """What an outgoing request that outlasted its deadline answers the client."""
    return InvalidRequest(_("The URL took too long to answer."))
