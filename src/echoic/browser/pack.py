"""The installed browser pack: which files the server may hand to the page, read from manifests.

Two directories make a pack (see :mod:`echoic.browser`): the converted model and the
onnxruntime-web runtime. Each carries an ``echoic-manifest.json`` listing its files with
SHA-256 and size; serving trusts those manifests (hashing 40 MB on every start would slow the
server for no gain, the files were hashed when written), while ``echoic models verify`` re-hashes
everything through :func:`verify_pack`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from echoic.engines.models import MANIFEST, sha256_file
from echoic.errors import ModelCorruptError

BROWSER_DIR = "browser"
RUNTIME_DIR = "runtime"
MODEL = "tiny.en"  # the one model converted for the browser
#: Bumped whenever the graphs or the decode contract change: an install rebuilds an older pack,
#: and the server serves none made by another revision (the page's code expects this one).
CONVERSION = 5  # 4: the decoder steps a batch of hypotheses (beam search); 5: no-speech rule


@dataclass(frozen=True)
class PackFile:
    name: str
    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class BrowserPack:
    model: str
    #: served at ``/browser/models/<model>/<name>``
    model_files: tuple[PackFile, ...]
    #: served at ``/browser/runtime/<name>``
    runtime_files: tuple[PackFile, ...]
    runtime_version: str


def install_hint() -> str:
    return f"echoic models install {MODEL} --browser"


def model_dir(models_dir: Path, model: str = MODEL) -> Path:
    return models_dir / BROWSER_DIR / model


def runtime_dir(models_dir: Path) -> Path:
    return models_dir / BROWSER_DIR / RUNTIME_DIR


def load_pack(models_dir: Path, model: str = MODEL) -> BrowserPack | None:
    """The installed pack read from its manifests; ``None`` when either part is missing.

    Raises :class:`ModelCorruptError` (naming the reinstall command) when a manifest is present
    but unreadable, names a file that is not there or has another size, or the model is of
    another conversion revision than :data:`CONVERSION` (an upgrade without a reinstall).
    """
    mdir, rdir = model_dir(models_dir, model), runtime_dir(models_dir)
    if not (mdir / MANIFEST).is_file() or not (rdir / MANIFEST).is_file():
        return None
    model_manifest = read_manifest(mdir)
    runtime_manifest = read_manifest(rdir)
    version = runtime_manifest.get("version")
    if not isinstance(version, str):
        raise _damaged(rdir, "it names no runtime version")
    pack = BrowserPack(
        model=model,
        model_files=_files(mdir, model_manifest),
        runtime_files=_files(rdir, runtime_manifest),
        runtime_version=version,
    )
    conversion = model_manifest.get("conversion")
    if conversion != CONVERSION:
        raise ModelCorruptError(
            f"the browser model at {mdir} is conversion {conversion}, made by another echoic; "
            f"this one's page needs conversion {CONVERSION}; run: {install_hint()}"
        )
    return pack


def verify_pack(models_dir: Path, model: str = MODEL) -> BrowserPack:
    """Re-hash every file of the installed pack against its manifest (``echoic models verify``)."""
    pack = load_pack(models_dir, model)
    if pack is None:
        raise ModelCorruptError(f"the browser pack is not installed; run: {install_hint()}")
    for pfile in (*pack.model_files, *pack.runtime_files):
        actual = sha256_file(pfile.path)
        if actual != pfile.sha256:
            raise ModelCorruptError(
                f"browser pack: {pfile.path} fails its SHA-256 check (expected "
                f"{pfile.sha256[:12]}…, found {actual[:12]}…); run: {install_hint()} --force"
            )
    return pack


def write_manifest(directory: Path, fields: dict[str, Any]) -> dict[str, Any]:
    """Hash every file in ``directory`` into its manifest, alongside ``fields``; return it."""
    files = {
        p.name: {"sha256": sha256_file(p), "size": p.stat().st_size}
        for p in sorted(directory.iterdir())
        if p.is_file() and p.name != MANIFEST
    }
    manifest = {**fields, "files": files}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(directory: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise _damaged(directory, "its manifest is not readable JSON") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise _damaged(directory, "its manifest lists no files")
    return manifest


def _files(directory: Path, manifest: dict[str, Any]) -> tuple[PackFile, ...]:
    files: list[PackFile] = []
    for name, entry in sorted(manifest["files"].items()):
        if not isinstance(name, str) or "/" in name or name.startswith(".") or name == MANIFEST:
            raise _damaged(directory, f"its manifest names a bad file {name!r}")
        sha = entry.get("sha256") if isinstance(entry, dict) else None
        size = entry.get("size") if isinstance(entry, dict) else None
        if not isinstance(sha, str) or len(sha) != 64 or not isinstance(size, int):
            raise _damaged(directory, f"its manifest entry for {name} lacks sha256 or size")
        path = directory / name
        try:
            actual = path.stat().st_size
        except OSError:
            raise _damaged(directory, f"{name} is missing") from None
        if actual != size:
            raise _damaged(directory, f"{name} has {actual} bytes, its manifest says {size}")
        files.append(PackFile(name=name, path=path, sha256=sha, size=size))
    if not files:
        raise _damaged(directory, "its manifest lists no files")
    return tuple(files)


def _damaged(directory: Path, why: str) -> ModelCorruptError:
    return ModelCorruptError(
        f"the browser pack in {directory} is damaged: {why}; run: {install_hint()} --force"
    )
