"""Fetching image URLs: private addresses, odd address forms, schemes and redirect tricks are
refused; the connection goes to the vetted address; size and time are capped while streaming."""

from __future__ import annotations

import datetime
import io
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpcore
import pytest
from PIL import Image

from core import outgoing
from core.errors import FileTooLarge, InvalidRequest, UnsupportedFormat
from imaging import inputs
from imaging.inputs import image_fetch, image_load

MB = 1024 * 1024
NOT_PUBLIC = "not public"


def image_bytes(fmt: str, size: tuple[int, int] = (32, 24)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(buffer, format=fmt)
    return buffer.getvalue()


PNG = image_bytes("PNG")
BODIES = {
    "/image.png": ("image/png", PNG),
    "/image.jpg": ("image/jpeg", image_bytes("JPEG")),
    "/image.webp": ("image/webp", image_bytes("WEBP")),
    "/image.gif": ("image/png", image_bytes("GIF")),  # lies about its type: Pillow decides
}


class ImageServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[tuple[str, str | None]] = []
        self.stop = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up mid-body is what these tests do

    @property
    def port(self) -> int:
        return self.server_address[1]

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


class Handler(BaseHTTPRequestHandler):
    server: ImageServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append((self.path, self.headers.get("Host")))
        path = self.path
        try:
            if path in BODIES:
                self.send_body(*BODIES[path])
            elif path.startswith("/redirect/"):
                left = int(path.rsplit("/", 1)[1])
                self.redirect(f"/redirect/{left - 1}" if left > 1 else "/image.png")
            elif path in ROUTES:
                ROUTES[path](self)
            else:
                self.send_body("text/plain", b"not found", status=404)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass

    def send_body(self, content_type: str, body: bytes, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, location: str, status: int = 302) -> None:
        self.send_response(status)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def endless(self) -> None:
        """No Content-Length: the body runs until the client hangs up."""
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(PNG[:100])
        chunk = b"\0" * 65536
        while not self.server.stop.is_set():
            self.wfile.write(chunk)

    def lying_short_length(self) -> None:
        """Claims 100 bytes, then keeps sending."""
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", "100")
        self.end_headers()
        self.wfile.write(BODIES["/image.jpg"][1] + b"\0" * MB)

    def lying_long_length(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(10**9))
        self.end_headers()
        self.wfile.write(PNG)

    def slow_drip(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(PNG)))
        self.end_headers()
        for byte in PNG:
            if self.server.stop.wait(0.2):
                return
            self.wfile.write(bytes([byte]))
            self.wfile.flush()

    def slow_headers(self) -> None:
        if not self.server.stop.wait(5):
            self.send_body("image/png", PNG)

    def gzip(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(PNG)))
        self.end_headers()
        self.wfile.write(PNG)


ROUTES: dict[str, Callable[[Handler], None]] = {
    "/endless": Handler.endless,
    "/lying-short-length": Handler.lying_short_length,
    "/lying-long-length": Handler.lying_long_length,
    "/slow-drip": Handler.slow_drip,
    "/slow-headers": Handler.slow_headers,
    "/gzip": Handler.gzip,
    "/error": lambda handler: handler.send_body("text/plain", b"boom", status=500),
    "/relative": lambda handler: handler.redirect("image.png", status=301),
    "/scheme-relative": lambda handler: handler.redirect(
        f"//127.0.0.1:{handler.server.port}/image.jpg", status=307
    ),
    "/no-location": lambda handler: handler.send_body("text/plain", b"", status=302),
    "/to-metadata": lambda handler: handler.redirect("http://169.254.169.254/latest/meta-data/"),
    "/to-file": lambda handler: handler.redirect("file:///etc/passwd"),
    "/to-gopher": lambda handler: handler.redirect("gopher://127.0.0.1:6379/_INFO"),
    "/to-credentials": lambda handler: handler.redirect(
        f"http://user:pass@127.0.0.1:{handler.server.port}/image.png"
    ),
    "/to-localhost": lambda handler: handler.redirect(
        f"http://localhost:{handler.server.port}/image.png", status=308
    ),
    "/to-decimal-loopback": lambda handler: handler.redirect(
        f"http://2130706433:{handler.server.port}/image.png"
    ),
    "/to-nat64-metadata": lambda handler: handler.redirect("http://[64:ff9b::a9fe:a9fe]/"),
}


def start(server: ImageServer) -> Iterator[ImageServer]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def server() -> Iterator[ImageServer]:
    yield from start(ImageServer())


@pytest.fixture
def allow_local(settings: Any) -> None:
    settings.NANOBANANA_FETCH_ALLOW_HOSTS = ["127.0.0.1"]


@pytest.fixture
def no_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refusals must happen at vetting: any attempt to open a socket fails the test."""

    def connect(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", connect)
    monkeypatch.setattr(socket, "create_connection", connect)


class FakeDns:
    """Names in `answers` resolve to what the test says; every lookup is recorded."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {}
        self.lookups: list[str] = []
        self.real = socket.getaddrinfo

    def getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list:
        name = host.decode() if isinstance(host, bytes) else str(host)
        self.lookups.append(name)
        if name not in self.answers:
            return self.real(host, port, *args, **kwargs)
        results = []
        for address in self.answers[name]:
            ip = ipaddress.ip_address(address)
            family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
            sockaddr = (address, int(port or 0)) + ((0, 0) if ip.version == 6 else ())
            results.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        return results


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    dns = FakeDns()
    monkeypatch.setattr(socket, "getaddrinfo", dns.getaddrinfo)
    return dns


# --- refused before any connection: address forms, schemes, credentials -------------------------

PRIVATE_ADDRESS_URLS = [
    "http://127.0.0.1/",
    "http://127.0.0.1:8000/admin",
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.1/",
    "http://017700000001/",
    "http://0.0.0.0/",
    "http://0/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://198.18.0.1/",
    "http://240.0.0.1/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://localhost/",
    "http://LocalHost:8080/",
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::127.0.0.1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[64:ff9b::a00:1]/",
    "http://[64:ff9b:1::a00:1]/",
    "http://[2002:7f00:1::]/",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    "http://[fc00::1]/",
    "http://[fd00:ec2::254]/",
    "http://[fe80::1]/",
    "http://[fec0::1]/",
    "http://[ff02::1]/",
    "https://127.0.0.1/",
]


@pytest.mark.usefixtures("no_connections")
@pytest.mark.parametrize("url", PRIVATE_ADDRESS_URLS)
def test_private_and_special_addresses_are_refused_in_every_form(url: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        image_fetch(url=url, max_bytes=MB)
    assert NOT_PUBLIC in str(refused.value.details)


REFUSED_URLS = [
    ("http://user:pass@example.com/a.png", "credentials"),
    ("http://user@127.0.0.1/a.png", "credentials"),
    ("http://:@example.com/a.png", "credentials"),
    ("ftp://example.com/a.png", "http or https"),
    ("file:///etc/passwd", "http or https"),
    ("gopher://127.0.0.1:6379/_INFO", "http or https"),
    ("data:image/png;base64,iVBORw0KGgo=", "http or https"),
    ("javascript:alert(1)", "http or https"),
    ("dict://127.0.0.1:11211/stats", "http or https"),
    ("//example.com/a.png", "http or https"),
    ("example.com/a.png", "http or https"),
    ("http:///a.png", "no host"),
    ("http://[::1/", "not a valid URL"),
    ("https://example.com/" + "a" * 5000, "longer than 4096 characters"),
]


@pytest.mark.usefixtures("no_connections")
@pytest.mark.parametrize(("url", "reason"), REFUSED_URLS)
def test_other_schemes_credentials_and_malformed_urls_are_refused(url: str, reason: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        image_fetch(url=url, max_bytes=MB)
    assert reason in str(refused.value.details)


@pytest.mark.usefixtures("no_connections")
def test_a_host_with_any_private_address_is_refused(fake_dns: FakeDns) -> None:
    fake_dns.answers["mixed.test"] = ["93.184.216.34", "10.0.0.7"]
    with pytest.raises(InvalidRequest, match=NOT_PUBLIC):
        image_fetch(url="http://mixed.test/a.png", max_bytes=MB)


@pytest.mark.usefixtures("no_connections")
def test_an_unresolvable_host_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest, match="could not be resolved"):
        image_fetch(url="http://does-not-exist.invalid/a.png", max_bytes=MB)


@pytest.mark.parametrize(
    "address",
    ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"],
)
def test_public_addresses_pass_vetting(address: str) -> None:
    assert outgoing._address_is_public(ipaddress.ip_address(address))


# --- fetching from the local server (allowlisted) -----------------------------------------------


@pytest.mark.usefixtures("allow_local")
@pytest.mark.parametrize("path", ["/image.png", "/image.jpg", "/image.webp"])
def test_an_allowlisted_host_serves_real_images(server: ImageServer, path: str) -> None:
    body = image_fetch(url=server.url(path), max_bytes=MB)
    assert body == BODIES[path][1]
    image = image_load(source=server.url(path), max_bytes=MB, max_pixels=10_000)
    assert image.size == (32, 24) and image.mode == "RGB"


@pytest.mark.usefixtures("allow_local")
def test_the_real_format_decides_not_the_content_type(server: ImageServer) -> None:
    with pytest.raises(UnsupportedFormat):
        image_load(source=server.url("/image.gif"), max_bytes=MB, max_pixels=10_000)


def test_the_allowlist_exempts_only_the_exact_host_listed(
    server: ImageServer, settings: Any
) -> None:
    settings.NANOBANANA_FETCH_ALLOW_HOSTS = ["localhost"]
    assert image_fetch(url=server.url("/image.png", host="localhost"), max_bytes=MB) == PNG
    for host in ("127.0.0.1", "127.1", "2130706433", "[::ffff:127.0.0.1]", "localhost.localdomain"):
        with pytest.raises(InvalidRequest):
            image_fetch(url=server.url("/image.png", host=host), max_bytes=MB)


def test_without_the_allowlist_the_local_server_is_refused(
    server: ImageServer, settings: Any
) -> None:
    settings.NANOBANANA_FETCH_ALLOW_HOSTS = []
    with pytest.raises(InvalidRequest, match=NOT_PUBLIC):
        image_fetch(url=server.url("/image.png"), max_bytes=MB)


@pytest.mark.usefixtures("allow_local")
def test_the_connection_goes_to_the_vetted_address_with_the_hostname_kept(
    server: ImageServer, settings: Any, fake_dns: FakeDns
) -> None:
    """One lookup only: httpx never resolves the name again (a rebinding DNS would answer a
    private address the second time), yet the server sees the hostname in Host."""
    settings.NANOBANANA_FETCH_ALLOW_HOSTS = ["images.test"]
    fake_dns.answers["images.test"] = ["127.0.0.1"]
    assert image_fetch(url=server.url("/image.png", host="images.test"), max_bytes=MB) == PNG
    assert fake_dns.lookups.count("images.test") == 1
    assert server.requests[-1] == ("/image.png", f"images.test:{server.port}")


@pytest.mark.usefixtures("allow_local")
def test_proxies_from_the_environment_are_ignored(
    server: ImageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    assert image_fetch(url=server.url("/image.png"), max_bytes=MB) == PNG


@pytest.mark.usefixtures("allow_local")
@pytest.mark.parametrize("path", ["/missing", "/error"])
def test_error_statuses_are_invalid_requests(server: ImageServer, path: str) -> None:
    with pytest.raises(InvalidRequest, match="HTTP status"):
        image_fetch(url=server.url(path), max_bytes=MB)


@pytest.mark.usefixtures("allow_local")
def test_encoded_bodies_are_refused(server: ImageServer) -> None:
    with pytest.raises(InvalidRequest, match="encoded"):
        image_fetch(url=server.url("/gzip"), max_bytes=MB)


# --- redirects ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("allow_local")
def test_up_to_three_redirects_are_followed(server: ImageServer) -> None:
    assert image_fetch(url=server.url("/redirect/3"), max_bytes=MB) == PNG


@pytest.mark.usefixtures("allow_local")
def test_a_fourth_redirect_is_refused(server: ImageServer) -> None:
    with pytest.raises(InvalidRequest, match="redirected more than 3 times"):
        image_fetch(url=server.url("/redirect/4"), max_bytes=MB)


@pytest.mark.usefixtures("allow_local")
@pytest.mark.parametrize(
    ("path", "body"), [("/relative", PNG), ("/scheme-relative", BODIES["/image.jpg"][1])]
)
def test_relative_redirects_are_resolved_and_vetted(
    server: ImageServer, path: str, body: bytes
) -> None:
    assert image_fetch(url=server.url(path), max_bytes=MB) == body


@pytest.mark.usefixtures("allow_local")
@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/to-metadata", NOT_PUBLIC),
        ("/to-nat64-metadata", NOT_PUBLIC),
        ("/to-localhost", NOT_PUBLIC),
        ("/to-decimal-loopback", NOT_PUBLIC),
        ("/to-file", "http or https"),
        ("/to-gopher", "http or https"),
        ("/to-credentials", "credentials"),
        ("/no-location", "without a location"),
    ],
)
def test_redirect_tricks_are_refused(server: ImageServer, path: str, reason: str) -> None:
    before = len(server.requests)
    with pytest.raises(InvalidRequest) as refused:
        image_fetch(url=server.url(path), max_bytes=MB)
    assert reason in str(refused.value.details)
    assert len(server.requests) == before + 1  # the target itself was never requested


# --- size and time ------------------------------------------------------------------------------


@pytest.mark.usefixtures("allow_local")
def test_an_endless_body_is_cut_at_the_byte_cap(server: ImageServer) -> None:
    started = time.monotonic()
    with pytest.raises(FileTooLarge):
        image_fetch(url=server.url("/endless"), max_bytes=MB)
    assert time.monotonic() - started < 2


@pytest.mark.usefixtures("allow_local")
def test_a_declared_length_over_the_cap_is_refused_up_front(server: ImageServer) -> None:
    with pytest.raises(FileTooLarge):
        image_fetch(url=server.url("/image.png"), max_bytes=len(PNG) - 1)
    with pytest.raises(FileTooLarge):
        image_fetch(url=server.url("/lying-long-length"), max_bytes=MB)


@pytest.mark.usefixtures("allow_local")
def test_a_body_longer_than_its_declared_length_is_not_read_past_it(server: ImageServer) -> None:
    body = image_fetch(url=server.url("/lying-short-length"), max_bytes=MB)
    assert len(body) == 100
    with pytest.raises(InvalidRequest, match="corrupt or truncated"):
        image_load(source=server.url("/lying-short-length"), max_bytes=MB, max_pixels=10_000)


@pytest.mark.usefixtures("allow_local")
@pytest.mark.parametrize("path", ["/slow-drip", "/slow-headers"])
def test_the_deadline_holds_while_streaming(server: ImageServer, settings: Any, path: str) -> None:
    settings.IMAGE_FETCH_TIMEOUT_SECONDS = 1.0
    started = time.monotonic()
    with pytest.raises(InvalidRequest, match="too long"):
        image_fetch(url=server.url(path), max_bytes=MB)
    assert time.monotonic() - started < 1.5


@pytest.mark.usefixtures("allow_local")
def test_the_deadline_covers_all_redirect_hops(
    server: ImageServer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.IMAGE_FETCH_TIMEOUT_SECONDS = 0.5
    real = inputs.outgoing_url_addresses

    def slow_vetting(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.2)
        return real(*args, **kwargs)

    monkeypatch.setattr(inputs, "outgoing_url_addresses", slow_vetting)
    with pytest.raises(InvalidRequest, match="too long"):
        image_fetch(url=server.url("/redirect/3"), max_bytes=MB)


# --- TLS: the certificate is checked against the hostname, not the pinned address --------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "images.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("images.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_server(tls_files: tuple[Path, Path]) -> Iterator[ImageServer]:
    server = ImageServer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield from start(server)


@pytest.fixture
def trust_test_ca(tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        outgoing, "_ssl_context", lambda: ssl.create_default_context(cafile=str(tls_files[0]))
    )


@pytest.mark.usefixtures("trust_test_ca")
def test_tls_verifies_the_hostname_while_connecting_to_the_vetted_address(
    tls_server: ImageServer, settings: Any, fake_dns: FakeDns
) -> None:
    settings.NANOBANANA_FETCH_ALLOW_HOSTS = ["images.test"]
    fake_dns.answers["images.test"] = ["127.0.0.1"]
    url = tls_server.url("/image.png", host="images.test", scheme="https")
    assert image_fetch(url=url, max_bytes=MB) == PNG
    assert fake_dns.lookups.count("images.test") == 1


@pytest.mark.usefixtures("trust_test_ca", "allow_local")
def test_tls_refuses_a_certificate_for_another_name(tls_server: ImageServer) -> None:
    with pytest.raises(InvalidRequest, match="could not be reached"):
        image_fetch(url=tls_server.url("/image.png", scheme="https"), max_bytes=MB)
