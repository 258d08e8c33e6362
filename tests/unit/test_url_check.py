"""check_url: which URLs echoic will fetch from, with DNS replaced by a table."""

from __future__ import annotations

import re
import socket

import pytest

from echoic.errors import InvalidParameterError, MediaFetchError, UrlNotAllowedError
from echoic.jobs.ingest import address_class, check_url, resolve_host

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"
NAMES = {
    "media.example.com": [PUBLIC_V4, PUBLIC_V6],
    "localhost": ["127.0.0.1", "::1"],
    "nas.lan": ["192.168.1.20"],
    "split.example.com": [PUBLIC_V4, "10.0.0.7"],  # one public, one private answer
    "metadata.internal": ["169.254.169.254"],
}


def fake_dns(host: str) -> list[str]:
    try:
        return NAMES[host]
    except KeyError:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None


def no_dns(host: str) -> list[str]:
    raise AssertionError(f"a literal address needs no lookup, but {host!r} was resolved")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://media.example.com/talk.mp3", "https://media.example.com/talk.mp3"),
        ("  HTTPS://Media.Example.COM/Talk.mp3?t=1 ", "https://media.example.com/Talk.mp3?t=1"),
        ("http://media.example.com", "http://media.example.com/"),
        ("http://media.example.com:8080/a.wav", "http://media.example.com:8080/a.wav"),
        (f"http://{PUBLIC_V4}/a.wav", f"http://{PUBLIC_V4}/a.wav"),
        (f"http://[{PUBLIC_V6}]/a.wav", f"http://[{PUBLIC_V6}]/a.wav"),
    ],
)
def test_public_urls_pass_normalised(url: str, expected: str) -> None:
    assert check_url(url, allow_private=False, resolve=fake_dns) == expected


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1/a.wav", "loopback"),
        ("http://127.8.9.10/a.wav", "loopback"),
        ("http://[::1]/a.wav", "loopback"),
        ("http://localhost:8000/v1/jobs", "loopback"),
        ("http://10.1.2.3/a.wav", "private"),
        ("http://172.16.0.1/a.wav", "private"),
        ("http://172.31.255.254/a.wav", "private"),
        ("http://192.168.1.1/a.wav", "private"),
        ("http://nas.lan/a.wav", "private"),
        ("http://[fc00::1]/a.wav", "private"),
        ("http://100.64.0.1/a.wav", "non-public"),
        ("http://split.example.com/a.wav", "private"),
        ("http://[::ffff:127.0.0.1]/a.wav", "loopback"),
        ("http://[::ffff:10.0.0.1]/a.wav", "private"),
        ("http://[2002:7f00:1::]/a.wav", "loopback"),  # 6to4 wrapping 127.0.0.1
        ("http://[64:ff9b::a00:7]/a.wav", "private"),  # NAT64 wrapping 10.0.0.7
    ],
)
def test_private_addresses_are_refused_unless_allowed(url: str, kind: str) -> None:
    with pytest.raises(UrlNotAllowedError) as refused:
        check_url(url, allow_private=False, resolve=fake_dns)
    assert f"a {kind} address" in refused.value.message
    assert "ECHOIC_URL_ALLOW_PRIVATE=true" in refused.value.message
    assert refused.value.param == "url"
    assert refused.value.http_status == 400

    assert check_url(url, allow_private=True, resolve=fake_dns).startswith("http://")


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://metadata.internal/computeMetadata/v1/", "link-local"),
        ("http://[fe80::1]/a.wav", "link-local"),
        ("http://[::ffff:169.254.169.254]/", "link-local"),
        ("http://0.0.0.0:8000/a.wav", "unspecified"),
        ("http://[::]/a.wav", "unspecified"),
        ("http://224.0.0.1/a.wav", "multicast"),
        ("http://[ff02::1]/a.wav", "multicast"),
        ("http://240.0.0.1/a.wav", "reserved"),
        ("http://255.255.255.255/a.wav", "reserved"),
    ],
)
def test_some_addresses_are_refused_even_when_private_ones_are_allowed(url: str, kind: str) -> None:
    for allow_private in (False, True):
        with pytest.raises(UrlNotAllowedError) as refused:
            check_url(url, allow_private=allow_private, resolve=fake_dns)
        assert f"a {kind} address" in refused.value.message
        assert "even with ECHOIC_URL_ALLOW_PRIVATE=true" in refused.value.message


@pytest.mark.parametrize(
    "url",
    [
        "ftp://media.example.com/a.mp3",
        "file:///etc/passwd",
        "gopher://media.example.com/",
        "javascript:alert(1)",
        "media.example.com/a.mp3",  # no scheme
        "http://user:pw@media.example.com/a.wav",
        "http://user@media.example.com/a.wav",
        "https://:pw@media.example.com/a.wav",
        "http:///a.wav",  # no host
    ],
)
def test_other_schemes_credentials_and_hostless_urls_are_not_allowed(url: str) -> None:
    with pytest.raises(UrlNotAllowedError):
        check_url(url, allow_private=True, resolve=fake_dns)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "http://[::1/a.wav",  # an unclosed IPv6 literal
        "http://media.example.com:99999/a.wav",
        "http://media.example.com/a.wav\r\nHost: evil",
        "http://media.example.com/" + "a" * 3000,
    ],
)
def test_malformed_urls_name_the_parameter(url: str) -> None:
    with pytest.raises(InvalidParameterError) as invalid:
        check_url(url, allow_private=True, resolve=fake_dns)
    assert type(invalid.value) is InvalidParameterError
    assert invalid.value.param == "url"


def test_literal_addresses_are_not_looked_up() -> None:
    assert check_url(f"http://{PUBLIC_V4}/", allow_private=False, resolve=no_dns)
    with pytest.raises(UrlNotAllowedError):
        check_url("http://[::ffff:7f00:1]/", allow_private=False, resolve=no_dns)


def test_a_name_that_does_not_resolve_is_a_fetch_failure() -> None:
    with pytest.raises(
        MediaFetchError, match=re.escape("could not resolve the host nowhere.example")
    ):
        check_url("http://nowhere.example/a.wav", allow_private=False, resolve=fake_dns)
    with pytest.raises(MediaFetchError, match="resolves to no address"):
        check_url("http://empty.example/", allow_private=False, resolve=lambda host: [])


@pytest.mark.parametrize(
    "host",
    ["localhost", "127.1", "2130706433", "0x7f000001", "0177.0.0.1"],
)
def test_the_system_resolver_sees_through_other_spellings_of_loopback(host: str) -> None:
    """No network: /etc/hosts and inet_aton's legacy numeric forms, as a real fetch meets them."""
    assert {address_class(address) for address in resolve_host(host)} == {"loopback"}
    with pytest.raises(UrlNotAllowedError, match="loopback"):
        check_url(f"http://{host}:8000/", allow_private=False)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        (PUBLIC_V4, None),
        (PUBLIC_V6, None),
        ("8.8.8.8", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),  # NAT64 of a public address: allowed
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1%1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.1", "private"),  # documentation range
        ("100.100.100.200", "non-public"),
    ],
)
def test_address_class(address: str, kind: str | None) -> None:
    assert address_class(address) == kind
