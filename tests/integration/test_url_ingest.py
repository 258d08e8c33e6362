"""fetch_media against a real HTTP server on loopback: what arrives, what is refused, and what
the server saw (a refused fetch must not reach it)."""

from __future__ import annotations

import contextlib
import gc
import json
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from echoic.audio import decode_audio
from echoic.errors import (
    AudioTooLargeError,
    AudioTooLongError,
    MediaFetchError,
    UnsupportedUrlError,
    UrlNotAllowedError,
)
from echoic.jobs.ingest import FetchCancelled, UrlPolicy, fetch_media
from echoic.types import SAMPLE_RATE
from tests.audio_factory import encode_audio, tone

MAX_BYTES = 200_000
POLICY = UrlPolicy(max_bytes=MAX_BYTES, max_duration_s=60.0, allow_private=True, timeout_s=60.0)


@dataclass(frozen=True, kw_only=True)
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain"
    location: str | None = None
    chunked: bool = False  # Transfer-Encoding: chunked, no Content-Length


@dataclass
class Site:
    """A loopback HTTP server: ``routes`` answers by path; ``seen`` is every request it got."""

    port: int
    routes: dict[str, Callable[[], Reply]] = field(default_factory=dict)
    seen: list[tuple[str, str]] = field(default_factory=list)  # (path, Host header)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.seen]


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # chunked bodies need it

        def do_GET(self) -> None:
            site.seen.append((self.path, self.headers.get("Host", "")))
            route = site.routes.get(self.path)
            reply = route() if route else Reply(status=404, body=b"no such page")
            # The client may stop reading: that is what a size limit or a cancel does.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._send(reply)

        def _send(self, reply: Reply) -> None:
            self.close_connection = True
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Connection", "close")
            if reply.location is not None:
                self.send_header("Location", reply.location)
            if not reply.chunked:
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(reply.body), 16_384):
                piece = reply.body[start : start + 16_384]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """2 s of a 440 Hz tone, 16 kHz mono 16-bit: some 64 kB."""
    path = tmp_path_factory.mktemp("media") / "tone.wav"
    return encode_audio(tone(440.0, 2.0, SAMPLE_RATE), SAMPLE_RATE, path, "wav").read_bytes()


@pytest.fixture(scope="module")
def long_wav(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """10 s of the tone: some 320 kB, over MAX_BYTES."""
    path = tmp_path_factory.mktemp("media") / "long.wav"
    return encode_audio(tone(440.0, 10.0, SAMPLE_RATE), SAMPLE_RATE, path, "wav").read_bytes()


def _json_ld_page(site: Site, **fields: str) -> Callable[[], Reply]:
    """A page naming one audio file, and what it says about it, in schema.org JSON-LD."""
    data = {"@context": "https://schema.org", "@type": "AudioObject", "name": "A talk"}
    data.update(contentUrl=site.url("/tone.wav"), encodingFormat="audio/wav", **fields)
    page = (
        '<html><head><title>A talk</title><script type="application/ld+json">'
        f"{json.dumps(data)}</script></head><body>A talk.</body></html>"
    )
    return lambda: Reply(body=page.encode(), content_type="text/html")


@pytest.fixture
def site(wav: bytes, long_wav: bytes) -> Iterator[Site]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    site = Site(port=server.server_address[1])
    server.RequestHandlerClass = _handler(site)
    page = "<html><head><title>About</title></head><body><p>No media here.</p></body></html>"
    site.routes.update(
        {
            "/tone.wav": lambda: Reply(body=wav, content_type="audio/wav"),
            "/page.html": lambda: Reply(body=page.encode(), content_type="text/html"),
            "/unavailable.wav": lambda: Reply(status=503, body=b"try later"),
            "/forbidden.wav": lambda: Reply(status=403, body=b"no"),
            "/large.wav": lambda: Reply(body=long_wav, content_type="audio/wav"),
            "/large-chunked.wav": lambda: Reply(
                body=long_wav, content_type="audio/wav", chunked=True
            ),
            "/to-tone": lambda: Reply(status=302, location="/tone.wav"),
            "/to-unspecified": lambda: Reply(
                status=302, location=site.url("/tone.wav", host="0.0.0.0")
            ),
            "/to-metadata": lambda: Reply(
                status=301, location="http://169.254.169.254/latest/meta-data/"
            ),
            "/to-internal": lambda: Reply(
                status=307, location=site.url("/tone.wav", host="internal.test")
            ),
            "/long-talk": _json_ld_page(site, duration="PT3H"),
            "/big-talk": _json_ld_page(site, duration="PT2S", contentSize="900000"),
        }
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="test-media-site"
    )
    thread.start()
    yield site
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def dest(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "fetch"
    # A socket left open anywhere in the fetch warns when collected: collect now, so the
    # warning (an error here) lands on the test that leaked it, not on a later one.
    gc.collect()


def test_fetches_a_wav_file_quietly(
    site: Site, dest: Path, wav: bytes, capfd: pytest.CaptureFixture[str]
) -> None:
    fetched = fetch_media(site.url("/tone.wav"), dest, POLICY)

    assert fetched.path.parent == dest
    assert fetched.path.read_bytes() == wav
    assert fetched.size_bytes == len(wav)
    assert fetched.title == "tone"
    assert fetched.final_url == site.url("/tone.wav")
    assert [path.name for path in dest.iterdir()] == [fetched.path.name]
    audio = decode_audio(fetched.path)
    assert len(audio) == 2 * SAMPLE_RATE
    assert 0.3 < float(abs(audio).max()) <= 0.51
    assert capfd.readouterr() == ("", "")  # yt-dlp printed nothing


def test_follows_redirects_it_may(site: Site, dest: Path, wav: bytes) -> None:
    fetched = fetch_media(site.url("/to-tone"), dest, POLICY)

    assert fetched.path.read_bytes() == wav
    assert site.paths[:2] == ["/to-tone", "/tone.wav"]


def test_connects_to_the_addresses_it_checked(site: Site, dest: Path, wav: bytes) -> None:
    """media.test exists only in the injected resolver: reaching the server proves the
    connection went to the vetted address, and the Host header still names the host."""
    resolve = {"media.test": ["127.0.0.1"]}.__getitem__
    fetched = fetch_media(site.url("/tone.wav", host="media.test"), dest, POLICY, resolve=resolve)

    assert fetched.path.read_bytes() == wav
    assert {host for _, host in site.seen} == {f"media.test:{site.port}"}


def test_a_page_without_media_is_unsupported(site: Site, dest: Path) -> None:
    with pytest.raises(UnsupportedUrlError, match="no audio or video found") as unsupported:
        fetch_media(site.url("/page.html"), dest, POLICY)
    assert unsupported.value.code == "unsupported_url"
    assert not unsupported.value.retryable


@pytest.mark.parametrize(
    ("path", "error", "status"),
    [
        ("/missing.wav", UnsupportedUrlError, "HTTP 404 Not Found"),
        ("/forbidden.wav", UnsupportedUrlError, "HTTP 403 Forbidden"),
        ("/unavailable.wav", MediaFetchError, "HTTP 503 Service Unavailable"),
    ],
)
def test_http_errors_say_whether_to_retry(
    site: Site, dest: Path, path: str, error: type[Exception], status: str
) -> None:
    with pytest.raises(error, match=status) as failed:
        fetch_media(site.url(path), dest, POLICY)
    assert type(failed.value) is error
    assert not list(dest.iterdir())


def test_a_closed_port_is_a_retryable_failure(dest: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(MediaFetchError, match="Connection refused") as failed:
        fetch_media(f"http://127.0.0.1:{port}/a.wav", dest, POLICY)
    assert failed.value.retryable


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_too_large_is_refused_and_leaves_nothing(
    site: Site, dest: Path, long_wav: bytes, chunked: bool
) -> None:
    path = "/large-chunked.wav" if chunked else "/large.wav"
    # Refused on its Content-Length before any body is read, or cut off one byte past the limit.
    said = f"sent more than {MAX_BYTES} bytes" if chunked else f"is {len(long_wav)} bytes"
    with pytest.raises(AudioTooLargeError, match=said) as refused:
        fetch_media(site.url(path), dest, POLICY)
    assert f"over the {MAX_BYTES} byte limit" in refused.value.message
    assert refused.value.http_status == 413
    assert not list(dest.iterdir())


def test_too_large_as_the_site_reports_it_is_refused_before_downloading(
    site: Site, dest: Path
) -> None:
    with pytest.raises(AudioTooLargeError, match="about 900000 bytes"):
        fetch_media(site.url("/big-talk"), dest, POLICY)
    assert site.paths == ["/big-talk"]


def test_too_long_as_the_site_reports_it_is_refused_before_downloading(
    site: Site, dest: Path
) -> None:
    with pytest.raises(AudioTooLongError, match="10800 s long, over the 60 s limit"):
        fetch_media(site.url("/long-talk"), dest, POLICY)
    assert site.paths == ["/long-talk"]


def test_should_stop_abandons_the_download(site: Site, dest: Path) -> None:
    def started() -> bool:  # true once the first block is on disk
        return any(dest.glob("media.*"))

    with pytest.raises(FetchCancelled):
        fetch_media(site.url("/tone.wav"), dest, POLICY, should_stop=started)
    assert "/tone.wav" in site.paths
    assert not list(dest.iterdir())


def test_should_stop_before_the_first_request(site: Site, dest: Path) -> None:
    with pytest.raises(FetchCancelled):
        fetch_media(site.url("/tone.wav"), dest, POLICY, should_stop=lambda: True)
    assert site.seen == []


def test_loopback_is_refused_before_any_request(site: Site, dest: Path) -> None:
    strict = UrlPolicy(max_bytes=MAX_BYTES, max_duration_s=60.0)
    with pytest.raises(UrlNotAllowedError, match="loopback") as refused:
        fetch_media(site.url("/tone.wav"), dest, strict)
    assert "ECHOIC_URL_ALLOW_PRIVATE=true" in refused.value.message
    assert site.seen == []


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/to-unspecified", "unspecified"),  # 0.0.0.0 would reach this very server
        ("/to-metadata", "link-local"),  # the cloud metadata service
        ("/to-internal", "unspecified"),  # a name with one bad address among its answers
    ],
)
def test_a_redirect_to_a_forbidden_address_is_not_followed(
    site: Site, dest: Path, path: str, kind: str
) -> None:
    """The server is on loopback, so private addresses must be allowed to reach it at all;
    the hops go to addresses no setting allows: the hop check is what refuses them."""
    resolve = {"internal.test": ["127.0.0.1", "0.0.0.0"]}.__getitem__
    with pytest.raises(UrlNotAllowedError, match=f"a {kind} address"):
        fetch_media(site.url(path), dest, POLICY, resolve=resolve)
    assert site.paths == [path]
    assert not list(dest.iterdir())


def test_a_name_is_checked_again_when_connecting(site: Site, dest: Path) -> None:
    """DNS rebinding: the name passes check_url, then resolves to a forbidden address for the
    request itself; the request is refused and nothing reaches any server."""
    answers = iter([["127.0.0.1"], ["0.0.0.0"]])

    def rebinding(host: str) -> list[str]:
        return next(answers)

    with pytest.raises(UrlNotAllowedError, match=re.escape("rebind.test (0.0.0.0)")):
        fetch_media(site.url("/tone.wav", host="rebind.test"), dest, POLICY, resolve=rebinding)
    assert site.seen == []


# A self-signed certificate for media.test (P-256, valid for a century), made with
#   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500 \
#     -subj /CN=media.test -addext subjectAltName=DNS:media.test
MEDIA_TEST_PEM = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgP3mhZcrUuNo7v0bt
OqDSL+O4gsxhEVFDub2g0Fa1sT2hRANCAATiNe7+JKtBb8v9D/8DS7QrwftzZLwd
V2A6d7Aw93d2vSaIYgjxh2paT0OXiCvxrHgE6CLJjaaUVQyer1o5aD2C
-----END PRIVATE KEY-----
-----BEGIN CERTIFICATE-----
MIIBmTCCAT6gAwIBAgIUTw1wXpjLMEYXxgOn2OWe+YAdOMcwCgYIKoZIzj0EAwIw
FTETMBEGA1UEAwwKbWVkaWEudGVzdDAgFw0yNjEyMDMwNjA5MzBaGA8yMTI2MTEw
OTA2MDkzMFowFTETMBEGA1UEAwwKbWVkaWEudGVzdDBZMBMGByqGSM49AgEGCCqG
SM49AwEHA0IABOI17v4kq0Fvy/0P/wNLtCvB+3NkvB1XYDp3sDD3d3a9JohiCPGH
alpPQ5eIK/GseAToIsmNppRVDJ6vWjloPYKjajBoMB0GA1UdDgQWBBTWvbskWjTt
b8yFkTe8XhYWXPK6yjAfBgNVHSMEGDAWgBTWvbskWjTtb8yFkTe8XhYWXPK6yjAP
BgNVHRMBAf8EBTADAQH/MBUGA1UdEQQOMAyCCm1lZGlhLnRlc3QwCgYIKoZIzj0E
AwIDSQAwRgIhAMA781+b9kRzc8qgiKuBJWwied459ClNNSUwhyPFUmw2AiEAsKAr
YeY7NfnA4djJxGMGaPutAW0Jb+k1P6QE0iZMV/c=
-----END CERTIFICATE-----
"""


def test_https_goes_to_the_checked_address_and_checks_the_certificate(
    site: Site, dest: Path, tmp_path: Path
) -> None:
    """TLS through the pinned connection: the socket goes to the address the resolver gave,
    the handshake names the host (SNI), and the certificate is verified: this one is
    self-signed, so the fetch fails, as a retryable fetch error."""
    pem = tmp_path / "media-test.pem"
    pem.write_text(MEDIA_TEST_PEM)
    names: list[str | None] = []
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(pem)
    tls.sni_callback = lambda _socket, name, _context: names.append(name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        url = f"https://media.test:{server.server_address[1]}/tone.wav"
        resolve = {"media.test": ["127.0.0.1"]}.__getitem__
        with pytest.raises(MediaFetchError, match="CERTIFICATE_VERIFY_FAILED"):
            fetch_media(url, dest, POLICY, resolve=resolve)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert names == ["media.test"]
    assert site.seen == []  # no request was sent over the unverified connection
