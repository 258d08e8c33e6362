"""Fetch the media behind a URL for a transcription job, without becoming a proxy into the
server's own network (DESIGN.md §6).

yt-dlp does the fetching (direct links, and the pages of the sites it knows), used as a library.
Whatever a URL names, echoic must not fetch from loopback, private or link-local addresses on a
user's behalf (server-side request forgery: the cloud metadata service, an admin port, the
database). Checking the submitted URL is not enough: its host can redirect, a page can point
yt-dlp at another host, and a name can resolve to a public address when checked and a private
one when connected to (DNS rebinding). So a URL is checked at two points:

* :func:`check_url` (:mod:`echoic.jobs.url_check`), before anything is fetched: scheme, host,
  and every address the host resolves to (the API calls it when a job is submitted, to answer
  400 at once);
* every HTTP request yt-dlp makes, redirect hops included (:mod:`echoic.jobs.pinned_http`): this
  module's :class:`YoutubeDL` subclass gives yt-dlp's request director one request handler only,
  which checks each request the same way, connects to exactly the addresses it checked, and caps
  every response body at ``max_bytes``. Proxies are not used.

What stays outside the guard: programs yt-dlp could start that do their own networking. ffmpeg
is kept away (``ffmpeg_location`` points where there is none, so an HLS stream yt-dlp's native
downloader cannot handle fails instead of being handed to ffmpeg), formats are limited to
HTTP(S), DASH and native HLS, live streams are refused, and WebSocket requests find no handler;
PhantomJS, which a few extractors start when it is installed, would still fetch on its own.
A public host that itself proxies into its own network is beyond any client-side check.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yt_dlp
from yt_dlp.networking.exceptions import HTTPError, TransportError
from yt_dlp.utils import ExtractorError, UnsupportedError, YoutubeDLError, unsmuggle_url

from echoic.errors import (
    AudioTooLargeError,
    AudioTooLongError,
    EchoicError,
    MediaFetchError,
    UnsupportedUrlError,
)
from echoic.jobs.pinned_http import (
    MAX_REDIRECTS,
    SOCKET_TIMEOUT_S,
    FetchCancelled,
    PinnedHttpRH,
    RequestGuard,
    Stopped,
    UrlPolicy,
)
from echoic.jobs.url_check import Resolver, address_class, check_url, resolve_host

__all__ = [
    "FetchCancelled",
    "FetchedMedia",
    "UrlPolicy",
    "address_class",
    "check_url",
    "fetch_media",
    "resolve_host",
]

log = logging.getLogger(__name__)

_STEM = "media"  # the downloaded file is dest_dir/media.<ext>; every media.* there is ours
_RETRYABLE_STATUSES = frozenset({408, 425, 429})
# Single-file HTTP(S) first, then DASH (its name starts with http too), then native HLS; never a
# protocol that needs ffmpeg or rtmpdump, which would fetch outside the request guard.
_FORMAT = (
    "bestaudio[protocol^=http]/best[protocol^=http]"
    "/bestaudio[protocol=m3u8_native]/best[protocol=m3u8_native]"
)


@dataclass(frozen=True, kw_only=True)
class FetchedMedia:
    path: Path  # the downloaded file, inside dest_dir
    size_bytes: int
    title: str | None
    duration_s: float | None  # as the site reported, when it did
    final_url: str  # the media URL yt-dlp downloaded from (after the page's redirects)


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
    guard = RequestGuard(
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


class _GuardedYoutubeDL(yt_dlp.YoutubeDL):  # type: ignore[misc]  # no type information
    def __init__(self, params: dict[str, Any], *, guard: RequestGuard) -> None:
        self._echoic_guard = guard
        super().__init__(params)

    def build_request_director(self, handlers: Any, preferences: Any = None) -> Any:
        """Whatever handlers yt-dlp has (urllib, requests, curl_cffi, websockets): only ours."""
        return super().build_request_director(
            [functools.partial(PinnedHttpRH, guard=self._echoic_guard)]
        )


class _YtDlpLog:
    """yt-dlp's ``logger``: all it would print goes to echoic's log, at debug level (what
    matters reaches the caller as an exception)."""

    def debug(self, message: str) -> None:
        log.debug("yt-dlp: %s", message)

    info = warning = error = debug


def _params(
    dest_dir: Path, policy: UrlPolicy, guard: RequestGuard, finished: list[Path]
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
        "proxy": "",  # not the *_PROXY environment variables: see pinned_http
        "ffmpeg_location": str(dest_dir / ".no-ffmpeg"),  # ffmpeg would bypass the guard
        "fixup": "never",
        "postprocessors": [],
        "socket_timeout": min(policy.timeout_s, SOCKET_TIMEOUT_S),
        "retries": 2,
        "fragment_retries": 2,
        "extractor_retries": 1,
        "skip_unavailable_fragments": False,  # a gap in the audio is worse than an error
        # No "max_filesize": yt-dlp skips a format whose size it knows without saying why, and
        # never stops a body that announced no size (chunked); the guard does both.
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
        if isinstance(cause, Stopped):
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
