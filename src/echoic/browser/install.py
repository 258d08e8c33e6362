"""``echoic models install tiny.en --browser``: convert the installed tiny.en and fetch the
runtime, each into a staged directory that replaces the old one only when complete.

The conversion reads the CTranslate2 weights echoic already verified (installing tiny.en first
when missing), builds both graphs, checks them on a second of synthetic audio, and records in
the manifest the SHA-256 of every file written, the source ``model.bin``'s digest and the
conversion's revision: a pack made from other weights or by an older converter is rebuilt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from echoic import __version__
from echoic.browser.ct2 import read_ct2
from echoic.browser.graph_decoder import build_decoder
from echoic.browser.graph_encoder import build_encoder
from echoic.browser.pack import (
    BROWSER_DIR,
    CONVERSION,
    MODEL,
    RUNTIME_DIR,
    BrowserPack,
    load_pack,
    model_dir,
    read_manifest,
    runtime_dir,
    write_manifest,
)
from echoic.browser.runtime import INTEGRITY, PACKAGE, VERSION, extract_runtime, fetch_tarball
from echoic.browser.vocab import alignment_heads, browser_config, token_table
from echoic.engines.models import CATALOG, MANIFEST, Log, install_model, staged
from echoic.errors import ModelCorruptError, ModelInstallError, ModelNotFoundError

TARBALL_CACHE = ".downloads"


@dataclass(frozen=True, kw_only=True)
class PackOptions:
    #: float16 weights (Cast to float32 inside the graph): half the download, same WER.
    half: bool = True
    force: bool = False
    source_dir: Path | None = None  # install tiny.en itself from this CTranslate2 directory


def install_browser_pack(
    models_dir: Path,
    model: str = MODEL,
    options: PackOptions = PackOptions(),
    log: Log = lambda _msg: None,
) -> BrowserPack:
    if model != MODEL:
        raise ModelNotFoundError(f"only {MODEL} is converted for the browser, not {model!r}")
    install_runtime(models_dir, force=options.force, log=log)
    source = install_model(model, models_dir, source_dir=options.source_dir, force=False, log=log)
    convert_model(source, models_dir, model, options, log)
    pack = load_pack(models_dir, model)
    if pack is None:  # both parts were just written; only a concurrent delete gets here
        raise ModelInstallError(f"the browser pack in {models_dir / BROWSER_DIR} vanished")
    return pack


def install_runtime(models_dir: Path, *, force: bool = False, log: Log) -> Path:
    target = runtime_dir(models_dir)
    if not force and _current(target, version=VERSION, integrity=INTEGRITY):
        log(f"{PACKAGE}@{VERSION}: already installed at {target}")
        return target
    browser = models_dir / BROWSER_DIR
    tarball = fetch_tarball(browser / TARBALL_CACHE, log=log)
    with staged(browser, RUNTIME_DIR) as staging:
        extract_runtime(tarball, staging)
        write_manifest(
            staging,
            {"package": PACKAGE, "version": VERSION, "integrity": INTEGRITY, "echoic": __version__},
        )
    log(f"{PACKAGE}@{VERSION}: installed at {target} (integrity checked)")
    return target


def convert_model(
    source: Path, models_dir: Path, model: str, options: PackOptions, log: Log
) -> Path:
    target = model_dir(models_dir, model)
    source_sha = _source_digest(source)
    precision = "float16" if options.half else "float32"
    wanted = {"source_sha256": source_sha, "conversion": CONVERSION, "precision": precision}
    if not options.force and _current(target, **wanted):
        log(f"{model} (browser): already converted at {target}")
        return target
    log(f"{model} (browser): converting {source / 'model.bin'} to ONNX ({precision})")
    ckpt = read_ct2(source / "model.bin")
    with staged(models_dir / BROWSER_DIR, model) as staging:
        config = browser_config(model, ckpt, source)
        (staging / "config.json").write_text(json.dumps(config, indent=1) + "\n")
        tokens = token_table(source / "tokenizer.json", config["n_vocab"])
        (staging / "tokens.json").write_text(json.dumps(tokens, ensure_ascii=True) + "\n")
        onnx.save(build_encoder(ckpt, half=options.half), staging / "encoder.onnx")
        heads = alignment_heads(source)
        decoder = build_decoder(ckpt, half=options.half, alignment_heads=heads)
        onnx.save(decoder, staging / "decoder.onnx")
        _smoke_test(staging)
        write_manifest(
            staging,
            {"model": model, **wanted, "source": str(source / "model.bin"), "echoic": __version__},
        )
    log(f"{model} (browser): converted at {target}")
    return target


def _source_digest(source: Path) -> str:
    spec = CATALOG[MODEL]
    pinned = {f.name: f.sha256 for f in spec.files}.get("model.bin")
    recorded = json.loads((source / MANIFEST).read_text())["files"]["model.bin"]["sha256"]
    return str(pinned or recorded)


def _current(directory: Path, **fields: object) -> bool:
    """Whether ``directory`` holds a complete install made with ``fields``: every file its
    manifest lists is there with its size (a full re-hash is ``echoic models verify``'s job)."""
    if not (directory / MANIFEST).is_file():
        return False
    try:
        manifest = read_manifest(directory)
    except ModelCorruptError:
        return False
    for name, entry in manifest["files"].items():
        path = directory / str(name)
        if not path.is_file() or path.stat().st_size != entry.get("size"):
            return False
    return all(manifest.get(k) == v for k, v in fields.items())


def _smoke_test(directory: Path) -> None:
    """One second of a tone through both graphs: the shapes the contract promises, finite."""
    from echoic.browser.decode import ReferenceDecoder

    decoder = ReferenceDecoder(directory, threads=1)
    tone = (0.1 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype(np.float32)
    try:
        decoder.transcribe(tone, max_tokens=2)
    except Exception as exc:  # onnxruntime raises its own types; the install must say why
        raise ModelInstallError(f"the converted browser model does not run: {exc}") from exc
