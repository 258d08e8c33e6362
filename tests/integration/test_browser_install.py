"""``install_browser_pack`` end to end into a fresh models directory: tiny.en copied from the
installed one, onnxruntime-web from the tarball cache ``make models`` left (or the registry),
both parts staged, manifested and verified; a second install changes nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from echoic.browser.install import TARBALL_CACHE, PackOptions, install_browser_pack
from echoic.browser.pack import BROWSER_DIR, load_pack, model_dir, runtime_dir, verify_pack
from echoic.browser.runtime import FILES, VERSION, tarball_name
from echoic.engines.models import MANIFEST, resolve_model
from echoic.errors import ModelCorruptError


def test_install_converts_fetches_and_records_digests(models_dir: Path, tmp_path: Path) -> None:
    cached = models_dir / BROWSER_DIR / TARBALL_CACHE / tarball_name()
    if cached.is_file():  # spare the registry a 35 MB download
        (tmp_path / BROWSER_DIR / TARBALL_CACHE).mkdir(parents=True)
        shutil.copy(cached, tmp_path / BROWSER_DIR / TARBALL_CACHE)
    source = resolve_model("tiny.en", models_dir).path
    messages: list[str] = []
    pack = install_browser_pack(
        tmp_path, options=PackOptions(source_dir=source), log=messages.append
    )
    assert pack.runtime_version == VERSION
    assert sorted(f.name for f in pack.runtime_files) == sorted(FILES)
    assert [f.name for f in pack.model_files] == [
        "config.json",
        "decoder.onnx",
        "encoder.onnx",
        "tokens.json",
    ]
    assert 15e6 < pack.model_files[2].size < 25e6  # the float16 encoder
    manifest = json.loads((model_dir(tmp_path) / MANIFEST).read_text())
    assert manifest["precision"] == "float16"
    assert manifest["source_sha256"] == (
        "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
    )
    tokens = json.loads((model_dir(tmp_path) / "tokens.json").read_text())
    assert tokens[50256] == "<|endoftext|>"
    assert tokens[18435] == " Hello"  # "ĠHello" in byte-level BPE
    assert tokens[50363] == "<|0.00|>"
    assert verify_pack(tmp_path) == pack
    assert not [p for p in (tmp_path / BROWSER_DIR).iterdir() if p.name.startswith(".tiny")]

    messages.clear()
    assert install_browser_pack(tmp_path, log=messages.append) == pack
    assert any("already converted" in m for m in messages)
    assert any("already installed" in m for m in messages)

    (runtime_dir(tmp_path) / "ort.wasm.min.mjs").write_text("tampered")
    with pytest.raises(ModelCorruptError, match=r"ort\.wasm\.min\.mjs has 8 bytes"):
        load_pack(tmp_path)
    install_browser_pack(tmp_path, log=messages.append)  # a damaged part is replaced
    assert verify_pack(tmp_path) == pack
