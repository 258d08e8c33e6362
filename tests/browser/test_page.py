"""The page's files as ``echoic serve`` hands them out: all of them, with the types a browser
needs for ES modules and an AudioWorklet, revalidated rather than cached stale, nothing from
another origin, and nothing else from the package directory."""

from __future__ import annotations

import re

import httpx
import pytest

from echoic.server.web import WEB_DIR
from tests.process_kit import ServerProcess

pytestmark = pytest.mark.slow

TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def page_files() -> set[str]:
    """The files under ``web/``, by their path there (``stt/whisper.js``)."""
    return {p.relative_to(WEB_DIR).as_posix() for p in WEB_DIR.rglob("*") if p.is_file()}


def referenced_files() -> set[str]:
    """Every file the page loads: from index.html, and the modules, workers and worklet the
    scripts import or start."""
    html = (WEB_DIR / "index.html").read_text()
    names = set(re.findall(r'(?:src|href)="/web/([^"]+)"', html))
    for script in WEB_DIR.rglob("*.js"):
        text = script.read_text()
        folder = script.parent.relative_to(WEB_DIR).as_posix()
        prefix = "" if folder == "." else f"{folder}/"
        names |= {prefix + name for name in re.findall(r'from "\./([^"]+)"', text)}
        names |= set(re.findall(r'"/web/([^"]+)"', text))
    return names


def test_every_file_the_page_loads_is_served_with_its_type(server: ServerProcess) -> None:
    names = referenced_files()
    assert {"app.js", "live.js", "files.js", "pcm-worklet.js", "styles.css", "icon.svg"} <= names
    assert names == page_files() - {"index.html"}  # none unused
    with httpx.Client(base_url=server.url, timeout=10) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "<title>echoic" in page.text
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "connect-src 'self'" in policy
        for name in sorted(names):
            response = client.get(f"/web/{name}")
            assert response.status_code == 200, name
            assert response.headers["content-type"].startswith(TYPES[name[name.rindex(".") :]])
            assert response.content == (WEB_DIR / name).read_bytes()
            assert response.headers["cache-control"] == "no-cache"
            assert response.headers["x-content-type-options"] == "nosniff"
            again = client.get(f"/web/{name}", headers={"If-None-Match": response.headers["etag"]})
            assert again.status_code == 304, name
            assert again.content == b""


@pytest.mark.parametrize(
    "path",
    [
        "/web/nothing.js",
        "/web/..%2fserver%2fweb.py",
        "/web/.hidden.js",
        "/web/README",
        "/web/",
        "/web/stt/..%2fapp.js",
        "/web/stt/nothing.js",
    ],
)
def test_nothing_else_is_served(server: ServerProcess, path: str) -> None:
    response = httpx.get(f"{server.url}{path}", timeout=10)
    assert response.status_code == 404


def test_the_page_loads_nothing_from_elsewhere() -> None:
    """No CDN, no web font, no analytics: only this origin (the browser tests also watch every
    request the page makes)."""
    for name in page_files():
        text = (WEB_DIR / name).read_text()
        # The SVG namespace is a name, not a fetch; localhost is in a hint to the user.
        assert not re.search(r"https?://(?!localhost[:/]|www\.w3\.org/2000/svg)", text), name
        assert "@import" not in text, name
        assert not re.search(r"url\((?!data:)", text), name
