"""onnxruntime-web's tarball: reused from the cache when its integrity holds, refused when it
does not, and only the page's files kept; and the CLI's ``--browser`` flag."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from echoic.browser.runtime import (
    FILES,
    extract_runtime,
    fetch_tarball,
    integrity_of,
    tarball_name,
)
from echoic.cli import cli
from echoic.errors import ModelInstallError


def _tarball(names: tuple[str, ...]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in (*names, "ort.all.min.mjs"):
            data = f"// {name}".encode()
            info = tarfile.TarInfo(f"package/dist/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_a_cached_tarball_with_the_pinned_integrity_is_reused(tmp_path: Path) -> None:
    data = _tarball(FILES)
    (tmp_path / tarball_name("9.9.9")).write_bytes(data)
    fetched = fetch_tarball(
        tmp_path, version="9.9.9", integrity=integrity_of(data), registry="http://127.0.0.1:9"
    )
    assert fetched == data


def test_a_tarball_failing_its_integrity_is_refused(tmp_path: Path) -> None:
    data = _tarball(FILES)
    (tmp_path / tarball_name("9.9.9")).write_bytes(data)
    # The cached copy does not match, so it is fetched again: from a registry that is not there.
    with pytest.raises(ModelInstallError, match=r"could not fetch onnxruntime-web@9\.9\.9"):
        fetch_tarball(
            tmp_path,
            version="9.9.9",
            integrity=integrity_of(b"other"),
            registry="http://127.0.0.1:9",
        )


def test_only_the_pages_files_are_extracted(tmp_path: Path) -> None:
    extract_runtime(_tarball(FILES), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)
    assert (tmp_path / "ort.wasm.min.mjs").read_text() == "// ort.wasm.min.mjs"


def test_a_tarball_missing_a_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelInstallError, match=r"lacks dist/ort-wasm-simd-threaded\.mjs"):
        extract_runtime(_tarball(("ort.wasm.min.mjs",)), tmp_path)


def test_the_sri_string_is_npms() -> None:
    # ``printf '' | openssl dgst -sha512 -binary | base64``
    assert integrity_of(b"").startswith("sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8")


@pytest.mark.parametrize("names", [["base"], ["tiny.en", "base"], ["voice-encoder"]])
def test_browser_with_another_model_is_a_usage_error(tmp_path: Path, names: list[str]) -> None:
    result = CliRunner().invoke(
        cli, ["models", "install", *names, "--browser"], env={"ECHOIC_MODELS_DIR": str(tmp_path)}
    )
    assert result.exit_code == 2
    assert "--browser converts tiny.en only" in result.output
    assert "echoic models install tiny.en --browser" in result.output
    assert not any(tmp_path.iterdir())  # nothing was installed
