"""The web page: ``GET /`` and its files under ``/web/…`` (``src/echoic/web``, no build step).

The page is plain HTML, CSS and ES modules shipped inside the package; it talks to the same API
as any other client (``/v1/models``, ``/v1/listen``, ``/v1/jobs``, ``/v1/transcripts``) and
sends the API key itself, so the files here need none. Nothing is loaded from anywhere else:
the Content-Security-Policy on the page only allows this origin.

The file names are not versioned, so every response says ``no-cache`` and carries a strong
ETag: a browser revalidates each file and gets a 304 while it is unchanged, and an upgraded
server is never hidden behind a stale copy.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import Response

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*(\.[a-z0-9]+)+")

#: What the page may load and connect to: this origin only (``'self'`` covers ``ws://`` to the
#: same host in current browsers); audio blobs for the player; nothing inline.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        # WebAssembly compilation (the browser transcription's runtime), and nothing else
        # that evaluates code.
        "script-src 'self' 'wasm-unsafe-eval'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'none'",
    ]
)

#: Cross-origin isolation: ``SharedArrayBuffer``, hence the WebAssembly runtime's threads for
#: transcription in the browser. Everything the page loads is from this origin, so requiring
#: CORP costs nothing.
ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}
#: Worker scripts get their own Content-Security-Policy from their response, not the page's.
WORKERS = ("stt-worker.js",)

router = APIRouter(include_in_schema=False)


def install(app: FastAPI) -> None:
    """Serve the page on ``app`` (``create_app`` calls this last)."""
    app.include_router(router)


@router.get("/")
def index(request: Request) -> Response:
    return _file(request, "index.html")


@router.get("/web/{name}")
def asset(request: Request, name: str) -> Response:
    return _file(request, name)


@router.get("/web/stt/{name}")
def stt_asset(request: Request, name: str) -> Response:
    """The in-browser model code (``web/stt/``), imported by the transcription worker."""
    return _file(request, f"stt/{name}")


def _file(request: Request, name: str) -> Response:
    path = WEB_DIR / name
    content_type = CONTENT_TYPES.get(path.suffix)
    folder, _, base = name.rpartition("/")
    if folder not in ("", "stt") or not _NAME.fullmatch(base):
        content_type = None
    if content_type is None or not path.is_file():
        raise HTTPException(status_code=404, detail=f"no page file {name!r}")
    body = path.read_bytes()
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {
        "ETag": etag,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        **ISOLATION_HEADERS,
    }
    if path.suffix == ".html" or name in WORKERS:
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    if etag in _etags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=content_type, headers=headers)


def _etags(header: str) -> list[str]:
    return [tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()]
