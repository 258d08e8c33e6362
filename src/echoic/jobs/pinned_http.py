"""The only way yt-dlp reaches the network during a fetch: a request handler that checks every
request, redirect hops included, against the URL rules (DESIGN.md §6).

Checking the submitted URL is not enough: its host can redirect, a page can point yt-dlp at
another host, and a name can resolve to a public address when checked and a private one when
connected to (DNS rebinding). yt-dlp sends all its requests through a request director, and
:mod:`echoic.jobs.ingest` gives that director one request handler only, :class:`PinnedHttpRH`.
It resolves the host and refuses a forbidden address (:func:`echoic.jobs.url_check.vet`),
connects to exactly the addresses it checked (no second lookup to rebind), follows redirects
itself, checking each hop the same way, and caps every response body at ``max_bytes``. Proxies
(including the ``*_PROXY`` environment variables) are not used: through a proxy, the address
actually connected to could not be checked.

:class:`RequestGuard` holds what every request and every downloaded block is checked against
(the :class:`UrlPolicy`, cancellation, the deadline); :class:`Stopped` carries the reason a
request was stopped out through yt-dlp.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yt_dlp.networking import Request, RequestHandler, Response
from yt_dlp.networking.exceptions import (
    CertificateVerifyError,
    HTTPError,
    RequestError,
    SSLError,
    TransportError,
)
from yt_dlp.utils.networking import normalize_url

from echoic.errors import AudioTooLargeError, EchoicError, MediaFetchError
from echoic.jobs.url_check import Resolver, vet

MAX_REDIRECTS = 10
SOCKET_TIMEOUT_S = 30.0  # one connect or read; the whole fetch is bounded by UrlPolicy.timeout_s
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


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


class FetchCancelled(Exception):
    """``should_stop()`` said stop: the fetch was abandoned and its partial file removed."""


@dataclass(frozen=True, kw_only=True)
class RequestGuard:
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
            _, parts, addresses = vet(
                url, allow_private=self.policy.allow_private, resolve=self.resolve
            )
        except EchoicError as exc:
            raise Stopped(exc) from exc
        return parts, addresses

    def close_responses(self) -> None:
        for response in list(self.unclosed):
            response.close()

    def keep_going(self) -> None:
        if self.should_stop is not None and self.should_stop():
            raise Stopped(FetchCancelled("the fetch was cancelled"))
        if time.monotonic() > self.deadline:
            limit_s = self.policy.timeout_s
            raise Stopped(MediaFetchError(f"fetching took longer than the {limit_s:g} s limit"))

    def check_size(self, size: int, url: str, *, announced: bool) -> None:
        """``size``: the bytes a response announced (Content-Length), or read so far."""
        limit = self.policy.max_bytes
        if size > limit:
            said = f"is {size} bytes" if announced else f"sent more than {limit} bytes"
            message = f"the media at {url} {said}, over the {limit} byte limit"
            raise Stopped(AudioTooLargeError(message))

    def progress(self, status: dict[str, Any], finished: list[Path]) -> None:
        """yt-dlp's progress hook: the total over all fragments, cancellation, the deadline."""
        url = str((status.get("info_dict") or {}).get("url") or "the URL")
        try:
            self.keep_going()
            total = status.get("total_bytes")  # exact (Content-Length), unlike the estimate
            if isinstance(total, int):
                self.check_size(total, url, announced=True)
            done = status.get("downloaded_bytes")  # all fragments so far, for DASH and HLS
            if isinstance(done, int):
                self.check_size(done, url, announced=False)
        except Stopped as stopped:
            raise stopped.reason from None  # raised in yt-dlp's download loop: it lets it out
        if status.get("status") == "finished" and status.get("filename"):
            finished.append(Path(status["filename"]))


class Stopped(RequestError):  # type: ignore[misc]  # yt-dlp ships no type information
    """Carries an echoic error (or FetchCancelled) out of the request handler: yt-dlp lets its
    own RequestError through untouched (not as a "network error" to retry), nothing else."""

    def __init__(self, reason: Exception) -> None:
        super().__init__(str(reason))
        self.reason = reason


class PinnedHttpRH(RequestHandler):  # type: ignore[misc]  # yt-dlp ships no type information
    """The only way out for yt-dlp: every request vetted, redirects followed hop by hop, each
    connection made to the addresses that were checked, every body capped at max_bytes."""

    _SUPPORTED_URL_SCHEMES = ("http", "https")
    _SUPPORTED_PROXY_SCHEMES = ()  # any proxy makes the request unsupported (see above)
    _SUPPORTED_FEATURES = ()

    def __init__(self, *, guard: RequestGuard, **kwargs: Any) -> None:
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
            except Stopped:
                response.close()
                raise
        return response


class _CappedResponse(Response):  # type: ignore[misc]  # yt-dlp ships no type information
    """A response body that stops one byte past max_bytes (a chunked body announces no size),
    and at the fetch's deadline."""

    def __init__(self, raw: http.client.HTTPResponse, *, url: str, guard: RequestGuard) -> None:
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
        except Stopped:
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
