"""Transcription in the browser, the server's half (DESIGN.md §4b): the page's configuration
(``GET /v1/browser``) and the browser pack's files (``/browser/models/<model>/<name>``,
``/browser/runtime/<name>``) that ``echoic models install tiny.en --browser`` put under the
models directory.

The pack is public weights and a public runtime, so its files need no API key (like the page's
own files); the configuration sits under ``/v1`` and takes the key like every API route.

Caching: every file's strong ETag is its manifest SHA-256, so a browser revalidates for a 304.
The URLs the configuration hands out carry ``?v=<sha256 prefix>``: such a URL names exactly one
content, so it is cached as ``immutable`` for a year, and an upgraded pack gets new URLs. A
request without the right ``v`` (the runtime's own relative imports) says ``no-cache`` and
revalidates. The page also keeps the model in Cache Storage, keyed by SHA-256, which is what
makes a second visit start without any request for the weights;
``echoic_browser_downloads_total`` counts full (200) responses only, so that claim is testable.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, Response

from echoic.browser.pack import BrowserPack, PackFile, install_hint, load_pack
from echoic.errors import EchoicError, ModelCorruptError, NotFoundError
from echoic.server.state import state_of
from echoic.settings import Settings

log = logging.getLogger(__name__)

CONTENT_TYPES = {
    ".wasm": "application/wasm",
    ".mjs": "text/javascript; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".onnx": "application/octet-stream",
}
#: Long enough to count as forever for a URL that names one content (RFC 8246).
IMMUTABLE = "public, max-age=31536000, immutable"
#: Characters of the SHA-256 in ``?v=``: enough to tell two versions apart, short in logs.
VERSION_CHARS = 16
#: Pack files are same-origin resources of a cross-origin-isolated page (the runtime's threads
#: need ``SharedArrayBuffer``): they say so, and the runtime's own worker scripts are
#: isolated too.
ISOLATION_HEADERS = {
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

router = APIRouter(include_in_schema=False)


def install(app: FastAPI) -> None:
    app.include_router(router)


@router.get("/v1/browser")
def browser_config(request: Request) -> dict[str, Any]:
    """What the page needs to transcribe by itself, or ``enabled: false`` and why not."""
    settings = state_of(request).settings
    return describe(settings, _pack(settings))


def describe(settings: Settings, pack: BrowserPack | EchoicError | None) -> dict[str, Any]:
    """The configuration document (pure: the settings and the pack as loaded)."""
    common: dict[str, Any] = {
        "self_test_max_s": settings.browser_self_test_max_s,
        "grace_ms": round(settings.client_transcript_grace_s * 1000),
    }
    reason = None
    if not settings.browser_stt:
        reason = "Transcription in the browser is turned off on this server (ECHOIC_BROWSER_STT)."
    elif pack is None:
        reason = f"The browser model is not installed; run: {install_hint()}"
    elif isinstance(pack, EchoicError):
        reason = pack.message
    if reason is not None or not isinstance(pack, BrowserPack):
        return {"enabled": False, "reason": reason, "model": None, **common}
    return {
        "enabled": True,
        "reason": None,
        "model": pack.model,
        "files": {f.name: _entry(f, f"/browser/models/{pack.model}/") for f in pack.model_files},
        "runtime": {
            "version": pack.runtime_version,
            "files": {f.name: _entry(f, "/browser/runtime/") for f in pack.runtime_files},
        },
        **common,
    }


@router.get("/browser/models/{model}/{name}")
def model_file(request: Request, model: str, name: str) -> Response:
    pack = _served_pack(request)
    if pack is None or pack.model != model:
        raise _missing(f"no browser model {model!r}")
    return _serve(request, pack.model_files, name, f"{model}/")


@router.get("/browser/runtime/{name}")
def runtime_file(request: Request, name: str) -> Response:
    pack = _served_pack(request)
    if pack is None:
        raise _missing("the browser runtime is not installed")
    return _serve(request, pack.runtime_files, name, "runtime/")


def _served_pack(request: Request) -> BrowserPack | None:
    settings = state_of(request).settings
    pack = _pack(settings) if settings.browser_stt else None
    return pack if isinstance(pack, BrowserPack) else None


def _pack(settings: Settings) -> BrowserPack | EchoicError | None:
    """Read on every request: two small manifests and a few ``stat`` calls, so a pack installed
    (or upgraded) while the server runs is served at once."""
    try:
        return load_pack(settings.models_dir)
    except ModelCorruptError as exc:
        log.warning("browser pack unusable", extra={"error": exc.message})
        return exc


def _entry(pfile: PackFile, prefix: str) -> dict[str, Any]:
    url = f"{prefix}{pfile.name}?v={pfile.sha256[:VERSION_CHARS]}"
    return {"url": url, "sha256": pfile.sha256, "size": pfile.size}


def _serve(request: Request, files: tuple[PackFile, ...], name: str, label: str) -> Response:
    found = next((f for f in files if f.name == name), None)
    content_type = CONTENT_TYPES.get("." + name.rsplit(".", 1)[-1]) if "." in name else None
    if found is None or content_type is None or not _NAME.fullmatch(name):
        raise _missing(f"no browser pack file {name!r}")
    etag = f'"{found.sha256}"'
    versioned = request.query_params.get("v") == found.sha256[:VERSION_CHARS]
    headers = {
        "ETag": etag,
        "Cache-Control": IMMUTABLE if versioned else "no-cache",
        "X-Content-Type-Options": "nosniff",
        **ISOLATION_HEADERS,
    }
    if etag in _etags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    state_of(request).metrics.browser_download(label + name)
    return FileResponse(found.path, media_type=content_type, headers=headers)


def _missing(message: str) -> NotFoundError:
    """A 404 in the API's JSON error shape (``echoic.server.error_handlers``)."""
    return NotFoundError(message)


def _etags(header: str) -> list[str]:
    return [tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()]
