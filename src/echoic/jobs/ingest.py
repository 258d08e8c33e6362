"""Fetch the media behind a URL for a transcription job, without becoming a proxy into the
server's own network (DESIGN.md §6).

yt-dlp does the fetching (direct links, and the pages of the sites it knows), used as a library.
Whatever a URL names, echoic must not fetch from loopback, private or link-local addresses on a
user's behalf (server-side request forgery: the cloud metadata service, an admin port, the
database). Checking the submitted URL is not enough: its host can redirect, a page can point
yt-dlp at another host, and a name can resolve to a public address when checked and a private
one when connected to (DNS rebinding). So this module checks at two points:

* :func:`check_url`, before anything is fetched: scheme, host, and every address the host
  resolves to (the API calls it when a job is submitted, to answer 400 at once);
* every HTTP request yt-dlp makes, redirect hops included: yt-dlp sends all its requests
  through a request director, and this module's :class:`YoutubeDL` subclass gives that director
  one request handler only, ``_PinnedHttpRH``. It resolves the host, refuses a forbidden address,
  and connects to exactly the addresses it checked (no second lookup to rebind), follows
  redirects itself, checking each hop the same way, and caps every response body at
  ``max_bytes``. Proxies (including the ``*_PROXY`` environment variables) are not used: through
  a proxy, the address actually connected to could not be checked.

What stays outside the guard: programs yt-dlp could start that do their own networking. ffmpeg
is kept away (``ffmpeg_location`` points where there is none, so an HLS stream yt-dlp's native
downloader cannot handle fails instead of being handed to ffmpeg), formats are limited to
HTTP(S), DASH and native HLS, live streams are refused, and WebSocket requests find no handler.
A public host that itself proxies to its own network is beyond any client-side check.
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import logging
import socket
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yt_dlp
from yt_dlp.networking import Request, RequestHandler, Response
from yt_dlp.networking.exceptions import (
    CertificateVerifyError,
    HTTPError,
    RequestError,
    SSLError,
    TransportError,
)
from yt_dlp.utils import ExtractorError, UnsupportedError, YoutubeDLError, unsmuggle_url
from yt_dlp.utils.networking import normalize_url

from echoic.errors import (
    AudioTooLargeError,
    AudioTooLongError,
    EchoicError,
    InvalidParameterError,
    MediaFetchError,
    UnsupportedUrlError,
    UrlNotAllowedError,
)

log = logging.getLogger(__name__)

ALLOW_PRIVATE_ENV = "ECHOIC_URL_ALLOW_PRIVATE"
#: Address classes no setting opens: never a unicast destination (unspecified, multicast,
#: reserved), or the cloud metadata service's range (link-local, 169.254.169.254).
ALWAYS_REFUSED = frozenset({"unspecified", "multicast", "reserved", "link-local"})
MAX_REDIRECTS = 10
MAX_URL_CHARS = 2048
SOCKET_TIMEOUT_S = 30.0  # one connect or read; the whole fetch is bounded by UrlPolicy.timeout_s
_STEM = "media"  # the downloaded file is dest_dir/media.<ext>; every media.* there is ours
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_RETRYABLE_STATUSES = frozenset({408, 425, 429})
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # DNS64 maps IPv4 hosts into it
# Single-file HTTP(S) first, then DASH (its name starts with http too), then native HLS; never a
# protocol that needs ffmpeg or rtmpdump, which would fetch outside the request guard.
_FORMAT = (
    "bestaudio[protocol^=http]/best[protocol^=http]"
    "/bestaudio[protocol=m3u8_native]/best[protocol=m3u8_native]"
)

Resolver = Callable[[str], list[str]]


@dataclass(frozen=True, kw_only=True)
class UrlPolicy:
    max_bytes: int  # the same limit as uploads
    max_duration_s: float
    allow_private: bool = False  # ECHOIC_URL_ALLOW_PRIVATE
    #: The whole fetch, extraction included (a server trickling bytes cannot hold a worker).
    timeout_s: float = 300.0

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.max_duration_s <= 0 or self.timeout_s <= 0:
            raise ValueError(f"UrlPolicy limits must be positive: {self}")


@dataclass(frozen=True, kw_only=True)
class FetchedMedia:
    path: Path  # the downloaded file, inside dest_dir
    size_bytes: int
    title: str | None
    duration_s: float | None  # as the site reported, when it did
    final_url: str  # the media URL yt-dlp downloaded from (after the page's redirects)


class FetchCancelled(Exception):
    """``should_stop()`` said stop: the fetch was abandoned and its partial file removed."""


def resolve_host(host: str) -> list[str]:
    """Every address ``host`` resolves to, in the order the system would try them."""
    found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in found))


def address_class(address: str) -> str | None:
    """Why echoic must not connect to ``address`` ("loopback", "private", …); ``None`` for a
    public address. IPv6 forms that carry an IPv4 address (mapped, 6to4, NAT64) are judged by
    the IPv4 address they reach."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour
        if inner is None and ip in _NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            return address_class(str(inner))
    checks = (
        ("unspecified", ip.is_unspecified),
        ("multicast", ip.is_multicast),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("non-public", not ip.is_global),  # e.g. 100.64.0.0/10, carrier-grade NAT
    )
    return next((name for name, hit in checks if hit), None)


def check_url(url: str, *, allow_private: bool, resolve: Resolver = resolve_host) -> str:
    """Validate before anything is fetched; returns the normalised URL.

    Only http(s), no credentials in the URL, and every address the host resolves to must be
    public (``allow_private`` opens loopback and private networks, never link-local, multicast,
    reserved or unspecified addresses). The API calls this at submission; the request guard
    repeats it for every request yt-dlp makes, since a name may resolve differently later.
    """
    return _vet(url, allow_private=allow_private, resolve=resolve)[0]


def fetch_media(
    url: str,
    dest_dir: Path,
    policy: UrlPolicy,
    *,
    should_stop: Callable[[], bool] | None = None,
    resolve: Resolver = resolve_host,
) -> FetchedMedia:
    """Blocking (runs in a worker thread). Uses yt-dlp (import yt_dlp; YoutubeDL as a library,
    not a subprocess).

    Extracts first and refuses before downloading when the site reports a duration or size over
    the policy's limits, or when the URL is a playlist or a live stream; then downloads to
    ``dest_dir/media.<ext>``, stopping as soon as a response announces or sends more than
    ``max_bytes``. Raises :class:`UrlNotAllowedError`, :class:`UnsupportedUrlError` (no media,
    or the host's 4xx), :class:`MediaFetchError` (network, timeout, 5xx: retryable),
    :class:`AudioTooLargeError`, :class:`AudioTooLongError` or :class:`FetchCancelled`; on any
    of them no ``media.*`` file is left in ``dest_dir``. ``resolve`` replaces DNS (tests).
    """
    checked = check_url(url, allow_private=policy.allow_private, resolve=resolve)
    dest_dir.mkdir(parents=True, exist_ok=True)
    _remove_ours(dest_dir)
    guard = _Guard(
        policy=policy,
        resolve=resolve,
        should_stop=should_stop,
        deadline=time.monotonic() + policy.timeout_s,
    )
    finished: list[Path] = []
    try:
        with _GuardedYoutubeDL(_params(dest_dir, policy, guard, finished), guard=guard) as ydl:
            info = ydl.extract_info(checked, download=False)
            _check_info(info, policy, checked)
            ydl.process_ie_result(info, download=True)
        path = _downloaded(finished, dest_dir, checked)
    except (EchoicError, FetchCancelled):
        _remove_ours(dest_dir)
        raise
    except YoutubeDLError as exc:
        _remove_ours(dest_dir)
        raise _translate(exc, checked) from exc
    finally:
        guard.close_responses()
    return FetchedMedia(
        path=path,
        size_bytes=path.stat().st_size,
        title=info.get("title") if isinstance(info.get("title"), str) else None,
        duration_s=_number(info.get("duration")),
        final_url=unsmuggle_url(str(info.get("url") or info.get("webpage_url") or checked))[0],
    )


def _vet(
    url: str, *, allow_private: bool, resolve: Resolver
) -> tuple[str, urllib.parse.SplitResult, list[str]]:
    """``check_url``, also returning the parsed URL and the addresses to connect to."""
    text = url.strip()
    if not text or len(text) > MAX_URL_CHARS:
        raise InvalidParameterError(
            f"a URL must be 1 to {MAX_URL_CHARS} characters long", param="url"
        )
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise InvalidParameterError("the URL contains control characters", param="url")
    try:
        parts = urllib.parse.urlsplit(text)
        host, _port = parts.hostname, parts.port  # .port raises on a port out of range
    except ValueError as exc:
        raise InvalidParameterError(f"not a valid URL: {exc}", param="url") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlNotAllowedError(
            f"only http and https URLs can be fetched, not {scheme + ':' if scheme else text!r}"
        )
    if parts.username is not None or parts.password is not None:
        raise UrlNotAllowedError("a URL with credentials (user:password@host) is not accepted")
    if not host:
        raise UrlNotAllowedError(f"the URL {text!r} names no host")
    addresses = _addresses(host, resolve)
    for address in addresses:
        _refuse_forbidden(host, address, allow_private=allow_private)
    parts = parts._replace(scheme=scheme, netloc=parts.netloc.lower(), path=parts.path or "/")
    return urllib.parse.urlunsplit(parts), parts, addresses


def _addresses(host: str, resolve: Resolver) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass  # a name (or a legacy numeric form such as 2130706433, which the resolver parses)
    try:
        found = resolve(host)
    except (OSError, UnicodeError) as exc:
        raise MediaFetchError(f"could not resolve the host {host}: {exc}") from exc
    if not found:
        raise MediaFetchError(f"the host {host} resolves to no address")
    return found


def _refuse_forbidden(host: str, address: str, *, allow_private: bool) -> None:
    try:
        kind = address_class(address)
    except ValueError:
        kind = "unrecognised"
    if kind is None or (allow_private and kind not in ALWAYS_REFUSED | {"unrecognised"}):
        return
    where = host if host.strip("[]") == address else f"{host} ({address})"
    hint = (
        f"echoic never fetches from these, even with {ALLOW_PRIVATE_ENV}=true"
        if kind in ALWAYS_REFUSED or allow_private
        else f"set {ALLOW_PRIVATE_ENV}=true to allow loopback and private networks"
    )
    raise UrlNotAllowedError(f"refusing to fetch from {where}: a {kind} address; {hint}")


@dataclass(frozen=True, kw_only=True)
class _Guard:
    """What every request and every downloaded block is checked against."""

    policy: UrlPolicy
    resolve: Resolver
    should_stop: Callable[[], bool] | None
    deadline: float  # time.monotonic()
    #: Responses not closed yet. yt-dlp leaves some open (the generic extractor's first
    #: response; the one a download abandons when a hook raises): the fetch closes them.
    unclosed: set[_CappedResponse] = field(default_factory=set)

    def admit(self, url: str) -> tuple[urllib.parse.SplitResult, list[str]]:
        """Vet a request about to be sent; the addresses to connect to, checked."""
        self.keep_going()
        try:
            _, parts, addresses = _vet(
                url, allow_private=self.policy.allow_private, resolve=self.resolve
            )
        except EchoicError as exc:
            raise _Stopped(exc) from exc
        return parts, addresses

    def close_responses(self) -> None:
        for response in list(self.unclosed):
            response.close()

    def keep_going(self) -> None:
        if self.should_stop is not None and self.should_stop():
            raise _Stopped(FetchCancelled("the fetch was cancelled"))
        if time.monotonic() > self.deadline:
            limit_s = self.policy.timeout_s
            raise _Stopped(MediaFetchError(f"fetching took longer than the {limit_s:g} s limit"))

    def check_size(self, size: int, url: str, *, announced: bool) -> None:
        if size > self.policy.max_bytes:
            said = f"is {size} bytes" if announced else f"sent more than {size - 1} bytes"
            raise _Stopped(
                AudioTooLargeError(
                    f"the media at {url} {said}, over the {self.policy.max_bytes} byte limit"
                )
            )

    def progress(self, status: dict[str, Any], finished: list[Path]) -> None:
        """yt-dlp's progress hook: the total over all fragments, cancellation, the deadline."""
        url = str((status.get("info_dict") or {}).get("url") or "the URL")
        try:
            self.keep_going()
            total = status.get("total_bytes")  # exact (Content-Length), unlike the estimate
            if isinstance(total, int):
                self.check_size(total, url, announced=True)
            done = status.get("downloaded_bytes")
            if isinstance(done, int) and done > self.policy.max_bytes:
                self.check_size(done + 1, url, announced=False)
        except _Stopped as stopped:
            raise stopped.reason from None  # raised in yt-dlp's download loop: it lets it out
        if status.get("status") == "finished" and status.get("filename"):
            finished.append(Path(status["filename"]))


class _Stopped(RequestError):  # type: ignore[misc]  # yt-dlp ships no type information
    """Carries an echoic error (or FetchCancelled) out of the request handler: yt-dlp lets its
    own RequestError through untouched (not as a "network error" to retry), nothing else."""

    def __init__(self, reason: Exception) -> None:
        super().__init__(str(reason))
        self.reason = reason


class _PinnedHttpRH(RequestHandler):  # type: ignore[misc]  # yt-dlp ships no type information
    """The only way out for yt-dlp: every request vetted, redirects followed hop by hop, each
    connection made to the addresses that were checked, every body capped at max_bytes."""

    _SUPPORTED_URL_SCHEMES = ("http", "https")
    _SUPPORTED_PROXY_SCHEMES = ()  # any proxy makes the request unsupported (see above)
    _SUPPORTED_FEATURES = ()

    def __init__(self, *, guard: _Guard, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._guard = guard

    def _check_extensions(self, extensions: dict[str, Any]) -> None:
        super()._check_extensions(extensions)
        for name in ("cookiejar", "timeout", "legacy_ssl", "keep_header_casing"):
            extensions.pop(name, None)

    def _prepare_headers(self, request: Request, headers: Any) -> None:
        headers["Accept-Encoding"] = "identity"  # nothing here decodes gzip or brotli
        headers["Connection"] = "close"

    def _send(self, request: Request) -> Response:
        url, method, data = request.url, request.method, request.data
        headers: dict[str, str] = self._get_headers(request)
        for hop in range(MAX_REDIRECTS + 1):
            parts, addresses = self._guard.admit(url)
            raw = self._exchange(request, url, parts, addresses, method, data, headers)
            location = raw.getheader("Location") if raw.status in _REDIRECT_STATUSES else None
            if location is None:
                return self._finish(url, raw)
            if hop == MAX_REDIRECTS:
                loop = _CappedResponse(raw, url=url, guard=self._guard)
                raise HTTPError(loop, redirect_loop=True)
            raw.close()
            target = normalize_url(urllib.parse.urljoin(url, location))
            if urllib.parse.urlsplit(target).netloc != parts.netloc:
                headers = {
                    k: v for k, v in headers.items() if k.lower() not in ("authorization", "cookie")
                }
            if (raw.status == 303 and method != "HEAD") or (
                raw.status in (301, 302) and method == "POST"
            ):  # what browsers do, and yt-dlp's own handlers
                method, data = "GET", None
                headers = {
                    k: v
                    for k, v in headers.items()
                    if k.lower() not in ("content-type", "content-length")
                }
            url = target
        raise AssertionError("unreachable: the last hop returns or raises")

    def _exchange(
        self,
        request: Request,
        url: str,
        parts: urllib.parse.SplitResult,
        addresses: list[str],
        method: str,
        data: Any,
        headers: dict[str, str],
    ) -> http.client.HTTPResponse:
        cookies = urllib.request.Request(url, headers=headers, method=method)
        jar = self._get_cookiejar(request)
        jar.add_cookie_header(cookies)
        sent = dict(headers)
        if cookie := cookies.get_header("Cookie"):
            sent["Cookie"] = cookie
        timeout = self._calculate_timeout(request)
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            context = self._make_sslcontext(legacy_ssl_support=request.extensions.get("legacy_ssl"))
            conn = _PinnedHTTPSConnection(
                parts.hostname, parts.port, addresses=addresses, timeout=timeout, context=context
            )
        else:
            conn = _PinnedHTTPConnection(
                parts.hostname, parts.port, addresses=addresses, timeout=timeout
            )
        target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        try:
            conn.request(method, target, body=data, headers=sent)
            raw = conn.getresponse()
        except ssl.SSLCertVerificationError as exc:
            raise CertificateVerifyError(cause=exc) from exc
        except ssl.SSLError as exc:
            raise SSLError(cause=exc) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise TransportError(cause=exc) from exc
        finally:
            # As urllib does: the response keeps the socket open until it is read or closed.
            if conn.sock is not None:
                conn.sock.close()
                conn.sock = None
        jar.extract_cookies(raw, cookies)
        return raw

    def _finish(self, url: str, raw: http.client.HTTPResponse) -> Response:
        response = _CappedResponse(raw, url=url, guard=self._guard)
        if not 200 <= raw.status < 300:
            raise HTTPError(response)
        length = raw.getheader("Content-Length")
        if length is not None and length.strip().isdigit():
            try:
                self._guard.check_size(int(length), url, announced=True)
            except _Stopped:
                response.close()
                raise
        return response


class _CappedResponse(Response):  # type: ignore[misc]  # yt-dlp ships no type information
    """A response body that stops one byte past max_bytes (a chunked body announces no size),
    and at the fetch's deadline."""

    def __init__(self, raw: http.client.HTTPResponse, *, url: str, guard: _Guard) -> None:
        super().__init__(raw, url, raw.headers, status=raw.status, reason=raw.reason)
        self._guard = guard
        self._read = 0
        guard.unclosed.add(self)

    def close(self) -> None:
        self._guard.unclosed.discard(self)
        super().close()

    def read(self, amt: int | None = None) -> bytes:
        room = self._guard.policy.max_bytes - self._read + 1
        data: bytes = super().read(room if amt is None or amt < 0 else min(amt, room))
        self._read += len(data)
        try:
            self._guard.check_size(self._read, self.url, announced=False)
            self._guard.keep_going()
        except _Stopped:
            self.close()
            raise
        return data


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(
        self, host: str | None, port: int | None, *, addresses: list[str], timeout: float
    ) -> None:
        super().__init__(host or "", port, timeout=timeout)
        self._addresses = addresses

    def connect(self) -> None:
        self.sock = _connect(self._addresses, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(
        self,
        host: str | None,
        port: int | None,
        *,
        addresses: list[str],
        timeout: float,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(host or "", port, timeout=timeout, context=context)
        self._addresses = addresses
        self._tls = context

    def connect(self) -> None:
        sock = _connect(self._addresses, self.port, self.timeout)
        try:  # the certificate and SNI name the host, though the socket went to an address
            self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def _connect(addresses: list[str], port: int, timeout: float | None) -> socket.socket:
    error: OSError = OSError("no address to connect to")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout=timeout)
        except OSError as exc:
            error = exc
    raise error


class _GuardedYoutubeDL(yt_dlp.YoutubeDL):  # type: ignore[misc]  # no type information
    def __init__(self, params: dict[str, Any], *, guard: _Guard) -> None:
        self._echoic_guard = guard
        super().__init__(params)

    def build_request_director(self, handlers: Any, preferences: Any = None) -> Any:
        """Whatever handlers yt-dlp has (urllib, requests, curl_cffi, websockets): only ours."""
        return super().build_request_director(
            [functools.partial(_PinnedHttpRH, guard=self._echoic_guard)]
        )


class _YtDlpLog:
    """yt-dlp's ``logger``: all it would print goes to echoic's log, at debug level (what
    matters reaches the caller as an exception)."""

    def debug(self, message: str) -> None:
        log.debug("yt-dlp: %s", message)

    info = warning = error = debug


def _params(
    dest_dir: Path, policy: UrlPolicy, guard: _Guard, finished: list[Path]
) -> dict[str, Any]:
    folder = str(dest_dir.resolve())
    return {
        "logger": _YtDlpLog(),
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "ignoreerrors": False,
        "noplaylist": True,
        "extract_flat": "in_playlist",  # a playlist is refused; don't extract its entries
        "format": _FORMAT,
        "outtmpl": {"default": folder.replace("%", "%%") + f"/{_STEM}.%(ext)s"},
        "overwrites": True,
        "continuedl": False,
        "updatetime": False,
        "cachedir": False,
        "proxy": "",  # not the *_PROXY environment variables: see the module docstring
        "ffmpeg_location": str(dest_dir / ".no-ffmpeg"),  # ffmpeg would bypass the guard
        "fixup": "never",
        "postprocessors": [],
        "socket_timeout": min(policy.timeout_s, SOCKET_TIMEOUT_S),
        "retries": 2,
        "fragment_retries": 2,
        "extractor_retries": 1,
        "skip_unavailable_fragments": False,  # a gap in the audio is worse than an error
        "progress_hooks": [functools.partial(guard.progress, finished=finished)],
    }


def _check_info(info: dict[str, Any], policy: UrlPolicy, url: str) -> None:
    if info.get("_type", "video") != "video":
        count = len(info.get("entries") or [])
        raise UnsupportedUrlError(
            f"{url} is a playlist ({count} items), not one recording: submit each item's URL"
        )
    if info.get("is_live") or info.get("live_status") in ("is_live", "is_upcoming"):
        raise UnsupportedUrlError(f"{url} is a live stream; only recordings can be transcribed")
    duration_s = _number(info.get("duration"))
    if duration_s is not None and duration_s > policy.max_duration_s:
        raise AudioTooLongError(
            f"the media at {url} is {duration_s:.0f} s long, over the "
            f"{policy.max_duration_s:g} s limit"
        )
    size = _number(info.get("filesize")) or _number(info.get("filesize_approx"))
    if size is not None and size > policy.max_bytes:
        raise AudioTooLargeError(
            f"the media at {url} is about {size:.0f} bytes, over the {policy.max_bytes} byte limit"
        )


def _downloaded(finished: list[Path], dest_dir: Path, url: str) -> Path:
    """The file yt-dlp reported finished (its progress hook names it)."""
    for path in reversed(finished):
        if path.is_file() and path.resolve().parent == dest_dir.resolve():
            return path
    raise MediaFetchError(f"yt-dlp reported no downloaded file for {url}")


def _remove_ours(dest_dir: Path) -> None:
    for path in dest_dir.glob(f"{_STEM}.*"):
        path.unlink(missing_ok=True)


def _translate(exc: BaseException, url: str) -> Exception:
    """yt-dlp's exception (often a DownloadError wrapping the real cause) → echoic's tree."""
    causes = list(_causes(exc))
    for cause in causes:
        if isinstance(cause, _Stopped):
            return cause.reason
        if isinstance(cause, EchoicError | FetchCancelled):
            return cause
    for cause in causes:
        if isinstance(cause, HTTPError):
            return _for_status(cause.status, cause.reason, url, redirect_loop=cause.redirect_loop)
        if isinstance(cause, TransportError):
            return MediaFetchError(f"could not fetch {url}: {cause.msg}")
    for cause in causes:
        if isinstance(cause, UnsupportedError):
            return UnsupportedUrlError(
                f"no audio or video found at {url}: it is not a media file, and not a page "
                "yt-dlp can find media in"
            )
        if isinstance(cause, ExtractorError) and cause.expected:  # "no formats", "private", …
            return UnsupportedUrlError(f"no media can be fetched from {url}: {cause.orig_msg}")
    return MediaFetchError(f"could not fetch media from {url}: {getattr(exc, 'msg', exc)}")


def _for_status(status: int, reason: str | None, url: str, *, redirect_loop: bool) -> Exception:
    if redirect_loop:
        return UnsupportedUrlError(f"{url} redirects more than {MAX_REDIRECTS} times")
    answer = f"HTTP {status}{' ' + reason if reason else ''}"
    if status >= 500 or status in _RETRYABLE_STATUSES:
        return MediaFetchError(f"the host of {url} answered {answer}; it may work later")
    return UnsupportedUrlError(f"the host of {url} answered {answer}")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps, nearest first: yt-dlp keeps causes in ``cause`` and
    ``exc_info`` as well as in Python's ``__cause__``/``__context__``."""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        current = pending.pop(0)
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        exc_info = getattr(current, "exc_info", None)
        pending += [
            getattr(current, "cause", None),
            exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) == 3 else None,
            current.__cause__,
            current.__context__,
        ]


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
