"""Whether echoic may fetch a URL: its scheme and host, and every address the host resolves to
(DESIGN.md §6).

Whatever a URL names, echoic must not fetch from loopback, private or link-local addresses on a
user's behalf (server-side request forgery: the cloud metadata service, an admin port, the
database). :func:`check_url` runs before anything is fetched: only http(s), no credentials, and
every address the host resolves to must be public (the API calls it when a job is submitted, to
answer 400 at once). Checking the submitted URL once is not enough, since a name can resolve to
a public address when checked and a private one when connected to (DNS rebinding): the request
guard (:mod:`echoic.jobs.pinned_http`) calls :func:`vet` again for every request yt-dlp makes,
and connects to exactly the addresses it returns.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse
from collections.abc import Callable

from echoic.errors import InvalidParameterError, MediaFetchError, UrlNotAllowedError

ALLOW_PRIVATE_ENV = "ECHOIC_URL_ALLOW_PRIVATE"
#: Address classes no setting opens: never a unicast destination (unspecified, multicast,
#: reserved), or the cloud metadata service's range (link-local, 169.254.169.254).
ALWAYS_REFUSED = frozenset({"unspecified", "multicast", "reserved", "link-local"})
MAX_URL_CHARS = 2048
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # DNS64 maps IPv4 hosts into it

Resolver = Callable[[str], list[str]]


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
    return vet(url, allow_private=allow_private, resolve=resolve)[0]


def vet(
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
