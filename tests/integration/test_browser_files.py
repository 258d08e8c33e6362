"""The server's half of transcription in the browser (``echoic.server.browser``): the page's
configuration, and the pack's files with the types, validators and cache rules a browser
needs; full downloads counted, revalidations not."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from echoic.browser.pack import CONVERSION, model_dir, runtime_dir, write_manifest
from echoic.cli import cli
from echoic.server.web import CONTENT_SECURITY_POLICY
from tests.server_kit import make_app, metric

ENCODER = b"\x08\x01onnx encoder bytes"
FILES = {
    "encoder.onnx": ENCODER,
    "tokens.json": b'["<|endoftext|>"]',
    "config.json": b'{"n_mels": 80}',
}
RUNTIME = {
    "ort.wasm.min.mjs": b"export const ort = {};",
    "ort-wasm-simd-threaded.wasm": b"\x00asm\x01\x00\x00\x00",
}
DOWNLOADS = "echoic_browser_downloads_total"


def install_pack(models_dir: Path) -> None:
    """A small pack with the layout and manifests ``echoic models install --browser`` writes."""
    for directory, files, fields in (
        (model_dir(models_dir), FILES, {"model": "tiny.en", "conversion": CONVERSION}),
        (runtime_dir(models_dir), RUNTIME, {"package": "onnxruntime-web", "version": "1.2.3"}),
    ):
        directory.mkdir(parents=True)
        for name, body in files.items():
            (directory / name).write_bytes(body)
        write_manifest(directory, fields)


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    install_pack(tmp_path / "models")
    return TestClient(make_app(tmp_path, models_dir=tmp_path / "models"))


def downloads(client: TestClient, file: str) -> float:
    return metric(client.get("/metrics").text, DOWNLOADS, {"file": file})


def test_the_config_lists_every_file_with_its_digest_and_a_versioned_url(
    client: TestClient,
) -> None:
    config = client.get("/v1/browser").json()
    assert config["enabled"] is True
    assert config["reason"] is None
    assert config["model"] == "tiny.en"
    assert config["self_test_max_s"] == 2.0
    assert config["grace_ms"] == 2000
    encoder = config["files"]["encoder.onnx"]
    digest = hashlib.sha256(ENCODER).hexdigest()
    assert encoder == {
        "url": f"/browser/models/tiny.en/encoder.onnx?v={digest[:16]}",
        "sha256": digest,
        "size": len(ENCODER),
    }
    assert set(config["files"]) == set(FILES)
    assert config["runtime"]["version"] == "1.2.3"
    assert set(config["runtime"]["files"]) == set(RUNTIME)
    wasm = config["runtime"]["files"]["ort-wasm-simd-threaded.wasm"]
    assert wasm["url"].startswith("/browser/runtime/ort-wasm-simd-threaded.wasm?v=")


@pytest.mark.parametrize(
    ("url", "content_type", "body"),
    [
        ("/browser/models/tiny.en/encoder.onnx", "application/octet-stream", ENCODER),
        ("/browser/models/tiny.en/tokens.json", "application/json", FILES["tokens.json"]),
        ("/browser/runtime/ort.wasm.min.mjs", "text/javascript", RUNTIME["ort.wasm.min.mjs"]),
        (
            "/browser/runtime/ort-wasm-simd-threaded.wasm",
            "application/wasm",
            RUNTIME["ort-wasm-simd-threaded.wasm"],
        ),
    ],
)
def test_files_are_served_with_their_type_and_a_strong_etag(
    client: TestClient, url: str, content_type: str, body: bytes
) -> None:
    response = client.get(url)
    assert response.status_code == 200
    assert response.content == body
    assert response.headers["content-type"].startswith(content_type)
    assert response.headers["etag"] == f'"{hashlib.sha256(body).hexdigest()}"'
    assert response.headers["cache-control"] == "no-cache"  # no version in the URL
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cross-origin-resource-policy"] == "same-origin"


def test_a_versioned_url_is_immutable_and_a_revalidation_is_a_304_not_a_download(
    client: TestClient,
) -> None:
    url = client.get("/v1/browser").json()["files"]["encoder.onnx"]["url"]
    first = client.get(url)
    assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert downloads(client, "tiny.en/encoder.onnx") == 1
    again = client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert downloads(client, "tiny.en/encoder.onnx") == 1
    stale = client.get(url.split("?")[0] + "?v=0000000000000000")
    assert stale.status_code == 200
    assert stale.headers["cache-control"] == "no-cache"  # an old version's URL: revalidate
    assert downloads(client, "tiny.en/encoder.onnx") == 2
    assert downloads(client, "runtime/ort.wasm.min.mjs") == 0


@pytest.mark.parametrize(
    "url",
    [
        "/browser/models/tiny.en/nothing.onnx",
        "/browser/models/base/encoder.onnx",
        "/browser/models/tiny.en/echoic-manifest.json",  # the manifest is not a pack file
        "/browser/models/tiny.en/..%2f..%2ftiny.en%2fmodel.bin",
        "/browser/runtime/encoder.onnx",
        "/browser/runtime/.hidden.mjs",
    ],
)
def test_unknown_names_are_a_json_404(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_without_a_pack_the_page_is_told_how_to_install_one(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path, models_dir=tmp_path / "empty")) as client:
        config = client.get("/v1/browser").json()
        missing = client.get("/browser/runtime/ort.wasm.min.mjs")
    assert config["enabled"] is False
    assert "echoic models install tiny.en --browser" in config["reason"]
    assert "files" not in config
    assert missing.status_code == 404


def test_a_damaged_pack_is_reported_not_served(tmp_path: Path) -> None:
    install_pack(tmp_path / "models")
    (model_dir(tmp_path / "models") / "encoder.onnx").write_bytes(b"short")
    with TestClient(make_app(tmp_path, models_dir=tmp_path / "models")) as client:
        config = client.get("/v1/browser").json()
        response = client.get("/browser/models/tiny.en/config.json")
    assert config["enabled"] is False
    assert "damaged" in config["reason"]
    assert response.status_code == 404


def test_a_pack_of_an_older_conversion_is_not_served_and_the_page_is_told_to_reinstall(
    tmp_path: Path,
) -> None:
    install_pack(tmp_path / "models")
    write_manifest(
        model_dir(tmp_path / "models"), {"model": "tiny.en", "conversion": CONVERSION - 1}
    )
    with TestClient(make_app(tmp_path, models_dir=tmp_path / "models")) as client:
        config = client.get("/v1/browser").json()
        response = client.get("/browser/models/tiny.en/config.json")
    assert config["enabled"] is False
    assert f"conversion {CONVERSION - 1}" in config["reason"]
    assert "echoic models install tiny.en --browser" in config["reason"]
    assert response.status_code == 404
    listed = CliRunner().invoke(
        cli,
        ["models", "list"],
        env={"ECHOIC_MODELS_DIR": str(tmp_path / "models"), "COLUMNS": "250"},
    )
    assert listed.exit_code == 0, listed.output
    assert "needs echoic models install tiny.en --browser" in " ".join(listed.output.split())


def test_turned_off_on_the_server_no_page_transcribes(tmp_path: Path) -> None:
    install_pack(tmp_path / "models")
    app = make_app(
        tmp_path, models_dir=tmp_path / "models", browser_stt=False, browser_self_test_max_s=0.5
    )
    with TestClient(app) as client:
        config = client.get("/v1/browser").json()
        response = client.get("/browser/models/tiny.en/encoder.onnx")
    assert config["enabled"] is False
    assert "ECHOIC_BROWSER_STT" in config["reason"]
    assert config["self_test_max_s"] == 0.5
    assert response.status_code == 404


def test_the_page_may_compile_webassembly_and_is_cross_origin_isolated(
    client: TestClient,
) -> None:
    """onnxruntime-web compiles WebAssembly (``'wasm-unsafe-eval'``) and runs threads, which
    need ``SharedArrayBuffer``, hence cross-origin isolation."""
    page = client.get("/")
    assert "script-src 'self' 'wasm-unsafe-eval'" in CONTENT_SECURITY_POLICY
    assert "'unsafe-eval'" not in CONTENT_SECURITY_POLICY
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["cross-origin-opener-policy"] == "same-origin"
    assert page.headers["cross-origin-embedder-policy"] == "require-corp"
    worker = client.get("/web/stt-worker.js")  # a worker's policy is its own response's
    assert worker.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    model = client.get("/web/stt/whisper.js")
    assert model.status_code == 200
    assert model.headers["content-type"].startswith("text/javascript")
    assert model.headers["cross-origin-resource-policy"] == "same-origin"
