"""Model resolution, installation and verification on small synthetic model directories."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from echoic.engines.models import (
    CATALOG,
    MANIFEST,
    ModelFile,
    ModelSpec,
    Part,
    install_model,
    install_spec,
    resolve_model,
    verify_installed,
)
from echoic.errors import (
    ModelCorruptError,
    ModelInstallError,
    ModelNotFoundError,
    ModelNotInstalledError,
)

PART1 = b"first half of the weights " * 100
PART2 = b"second half " * 50
CONFIG = b'{"lang_ids": []}'


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def carrier_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two importable 'carrier packages' holding a model split in two, as on PyPI."""
    root = tmp_path / "site"
    for module, files in {
        "echoic_test_carrier_a": {"data/model.bin.part1": PART1},
        "echoic_test_carrier_b": {"data/model.bin.part2": PART2, "data/config.json": CONFIG},
    }.items():
        (root / module / "data").mkdir(parents=True)
        (root / module / "__init__.py").write_text("")
        for rel, data in files.items():
            (root / module / rel).write_bytes(data)
    monkeypatch.syspath_prepend(str(root))
    return root


def _split_spec(model_sha: str | None = None) -> ModelSpec:
    return ModelSpec(
        name="split-test",
        english_only=True,
        description="a model split over two carrier packages",
        files=(
            ModelFile(
                name="model.bin",
                sha256=model_sha or _sha(PART1 + PART2),
                size=len(PART1 + PART2),
                parts=(
                    Part(
                        package="a", version="1", path="echoic_test_carrier_a/data/model.bin.part1"
                    ),
                    Part(
                        package="b", version="1", path="echoic_test_carrier_b/data/model.bin.part2"
                    ),
                ),
            ),
            ModelFile(
                name="config.json",
                sha256=_sha(CONFIG),
                size=len(CONFIG),
                parts=(
                    Part(package="b", version="1", path="echoic_test_carrier_b/data/config.json"),
                ),
            ),
        ),
    )


def test_split_weights_are_reassembled_and_verified(carrier_root: Path, tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    target = install_spec(_split_spec(), models_dir)
    assert (target / "model.bin").read_bytes() == PART1 + PART2
    assert (target / "config.json").read_bytes() == CONFIG
    assert verify_installed("split-test", models_dir, full=True) == ["config.json", "model.bin"]
    assert not [p for p in models_dir.iterdir() if p.name.startswith(".")], "staging left behind"


def test_a_carrier_that_does_not_match_the_pinned_digest_is_refused(
    carrier_root: Path, tmp_path: Path
) -> None:
    models_dir = tmp_path / "models"
    with pytest.raises(ModelInstallError, match="does not match its pinned SHA-256"):
        install_spec(_split_spec(model_sha="0" * 64), models_dir)
    assert not (models_dir / "split-test").exists()
    assert not list(models_dir.iterdir()), "a refused install leaves nothing behind"


def test_corruption_is_detected_and_names_the_repair_command(
    carrier_root: Path, tmp_path: Path
) -> None:
    models_dir = tmp_path / "models"
    target = install_spec(_split_spec(), models_dir)
    weights = target / "model.bin"
    data = bytearray(weights.read_bytes())
    data[10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelCorruptError, match="echoic models install --force split-test"):
        verify_installed("split-test", models_dir)


def test_unchanged_files_are_not_rehashed_on_every_load(carrier_root: Path, tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    target = install_spec(_split_spec(), models_dir)
    # Same size and mtime as recorded: trusted without hashing (a cheap check per load) ...
    weights = target / "model.bin"
    stat = weights.stat()
    weights.write_bytes(b"X" * stat.st_size)
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    verify_installed("split-test", models_dir)
    # ... but the full check hashes everything.
    with pytest.raises(ModelCorruptError):
        verify_installed("split-test", models_dir, full=True)


def test_reinstall_repairs_a_damaged_copy(carrier_root: Path, tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    target = install_spec(_split_spec(), models_dir)
    (target / "config.json").write_text("garbage")
    messages: list[str] = []
    install_spec(_split_spec(), models_dir, log=messages.append)
    assert any("damaged" in m for m in messages)
    verify_installed("split-test", models_dir, full=True)


def test_unknown_and_missing_models_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="unknown model 'whisper-9000'; known models:"):
        resolve_model("whisper-9000", tmp_path)
    with pytest.raises(ModelNotInstalledError, match="run: echoic models install base"):
        resolve_model("base", tmp_path)
    with pytest.raises(ModelNotFoundError, match="not a CTranslate2 model directory"):
        resolve_model(str(tmp_path), tmp_path)
    with pytest.raises(ModelNotFoundError):
        install_model("whisper-9000", tmp_path)


def test_an_explicit_model_directory_is_accepted(tmp_path: Path) -> None:
    model_dir = tmp_path / "my-model"
    model_dir.mkdir()
    (model_dir / "model.bin").write_bytes(b"weights")
    (model_dir / "config.json").write_text('{"lang_ids": [50259, 50260]}')
    resolved = resolve_model(str(model_dir), tmp_path / "models")
    assert resolved.path == model_dir
    assert resolved.english_only is False


def test_install_from_a_directory_checks_pinned_digests(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for f in CATALOG["tiny.en"].files:
        (source / f.name).write_bytes(b"not the real " + f.name.encode())
    with pytest.raises(ModelInstallError, match="pinned SHA-256"):
        install_model("tiny.en", tmp_path / "models", source_dir=source)


def test_catalog_pins_every_registry_model() -> None:
    for name in ("tiny.en", "base"):
        spec = CATALOG[name]
        assert spec.pinned
        assert {f.name for f in spec.files} >= {"model.bin", "config.json", "tokenizer.json"}
        assert all(len(f.sha256) == 64 for f in spec.files)
    assert len(CATALOG["base"].files[0].parts) == 2, "base's weights are split in two packages"
    assert MANIFEST not in {f.name for s in CATALOG.values() for f in s.files}
