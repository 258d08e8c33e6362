"""The browser pack as the server reads it: manifests in, served files out, damage named."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from echoic.browser.pack import (
    CONVERSION,
    install_hint,
    load_pack,
    model_dir,
    runtime_dir,
    verify_pack,
    write_manifest,
)
from echoic.engines.models import MANIFEST
from echoic.errors import ModelCorruptError


def _install(models_dir: Path) -> None:
    mdir, rdir = model_dir(models_dir), runtime_dir(models_dir)
    mdir.mkdir(parents=True)
    rdir.mkdir(parents=True)
    (mdir / "encoder.onnx").write_bytes(b"enc")
    (mdir / "config.json").write_text("{}")
    (rdir / "ort.wasm.min.mjs").write_text("export {}")
    write_manifest(mdir, {"model": "tiny.en", "conversion": CONVERSION})
    write_manifest(rdir, {"package": "onnxruntime-web", "version": "1.2.3"})


def test_a_complete_pack_lists_its_files_with_digests(tmp_path: Path) -> None:
    _install(tmp_path)
    pack = load_pack(tmp_path)
    assert pack is not None
    assert pack.model == "tiny.en"
    assert pack.runtime_version == "1.2.3"
    assert [f.name for f in pack.model_files] == ["config.json", "encoder.onnx"]
    assert [f.name for f in pack.runtime_files] == ["ort.wasm.min.mjs"]
    encoder = pack.model_files[1]
    assert encoder.size == 3
    assert encoder.path == model_dir(tmp_path) / "encoder.onnx"
    assert encoder.sha256 == hashlib.sha256(b"enc").hexdigest()
    assert verify_pack(tmp_path) == pack


@pytest.mark.parametrize("missing", ["model", "runtime", "both"])
def test_a_missing_part_means_no_pack(tmp_path: Path, missing: str) -> None:
    _install(tmp_path)
    if missing in ("model", "both"):
        (model_dir(tmp_path) / MANIFEST).unlink()
    if missing in ("runtime", "both"):
        (runtime_dir(tmp_path) / MANIFEST).unlink()
    assert load_pack(tmp_path) is None
    with pytest.raises(ModelCorruptError, match="--browser"):
        verify_pack(tmp_path)


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda d: (d / MANIFEST).write_text("{not json"), "not readable JSON"),
        (lambda d: (d / MANIFEST).write_text('{"files": []}'), "lists no files"),
        (lambda d: (d / "encoder.onnx").unlink(), "encoder.onnx is missing"),
        (lambda d: (d / "encoder.onnx").write_bytes(b"encoder"), "has 7 bytes"),
        (
            lambda d: (d / MANIFEST).write_text(
                json.dumps({"files": {"../x": {"sha256": "0" * 64, "size": 1}}})
            ),
            "bad file",
        ),
        (
            lambda d: (d / MANIFEST).write_text(json.dumps({"files": {"encoder.onnx": {}}})),
            "lacks sha256",
        ),
    ],
)
def test_a_damaged_model_manifest_is_a_clear_error(
    tmp_path: Path, damage: Callable[[Path], object], why: str
) -> None:
    _install(tmp_path)
    damage(model_dir(tmp_path))
    with pytest.raises(ModelCorruptError, match=why) as caught:
        load_pack(tmp_path)
    assert install_hint() in caught.value.message


@pytest.mark.parametrize("fields", [{}, {"conversion": CONVERSION - 1}, {"conversion": "4"}])
def test_a_model_of_another_conversion_revision_is_refused(
    tmp_path: Path, fields: dict[str, object]
) -> None:
    _install(tmp_path)
    write_manifest(model_dir(tmp_path), {"model": "tiny.en", **fields})
    with pytest.raises(ModelCorruptError, match=f"needs conversion {CONVERSION}") as caught:
        load_pack(tmp_path)
    assert install_hint() in caught.value.message


def test_a_runtime_without_a_version_is_damaged(tmp_path: Path) -> None:
    _install(tmp_path)
    write_manifest(runtime_dir(tmp_path), {"package": "onnxruntime-web"})
    with pytest.raises(ModelCorruptError, match="no runtime version"):
        load_pack(tmp_path)


def test_verify_rehashes_and_names_the_changed_file(tmp_path: Path) -> None:
    _install(tmp_path)
    (model_dir(tmp_path) / "encoder.onnx").write_bytes(b"ENC")  # same size, other bytes
    assert load_pack(tmp_path) is not None
    with pytest.raises(ModelCorruptError, match=r"encoder\.onnx fails its SHA-256"):
        verify_pack(tmp_path)


def test_the_hint_names_the_install_command() -> None:
    assert install_hint() == "echoic models install tiny.en --browser"
