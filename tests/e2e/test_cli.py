"""``echoic`` as a user runs it: a real process, the real model, real speech in every format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import srt
import webvtt

from echoic.audio import decode_audio
from echoic.bench.text import count_errors, normalize
from tests.audio_factory import FORMATS, AudioFormat, encode_audio, truncated
from tests.speech import JFK, JFK_PATH

pytestmark = pytest.mark.slow

ECHOIC = [sys.executable, "-m", "echoic"]


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ECHOIC, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture(scope="module")
def jfk_wav(shared_dir: Path) -> Path:
    return shared_dir / JFK_PATH


@pytest.fixture(scope="module")
def jfk_files(jfk_wav: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("formats")
    samples = decode_audio(jfk_wav)
    return {fmt: encode_audio(samples, 16_000, folder / f"jfk.{fmt}", fmt) for fmt in FORMATS}


def test_every_format_gives_the_same_text_as_the_wav(
    jfk_wav: Path, jfk_files: dict[AudioFormat, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    done = run("transcribe", jfk_wav, "--output", out, "--format", "text")
    assert done.returncode == 0, done.stderr
    reference = (out / "jfk-inaugural-1961.txt").read_text()
    assert count_errors(JFK, reference).errors == 0
    # The encoded copies share the stem "jfk": transcribe them one by one.
    for fmt, path in jfk_files.items():
        done = run("transcribe", path, "--format", "text")
        assert done.returncode == 0, f"{fmt}: {done.stderr}"
        assert normalize(done.stdout) == normalize(reference), fmt


def test_subtitles_and_verbose_json(jfk_wav: Path, tmp_path: Path) -> None:
    done = run("transcribe", jfk_wav, "--format", "srt")
    assert done.returncode == 0, done.stderr
    cues = list(srt.parse(done.stdout))
    assert cues
    assert count_errors(JFK, " ".join(c.content for c in cues)).errors == 0

    done = run("transcribe", jfk_wav, "--format", "vtt", "--output", tmp_path)
    assert done.returncode == 0, done.stderr
    captions = webvtt.read(str(tmp_path / "jfk-inaugural-1961.vtt")).captions
    assert count_errors(JFK, " ".join(c.text for c in captions)).errors == 0

    done = run("transcribe", jfk_wav, "--format", "verbose_json", "--word-timestamps")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["language"] == "en"
    assert body["duration"] == pytest.approx(11.0, abs=0.01)
    assert count_errors(JFK, body["text"]).errors == 0
    assert len(body["words"]) == len(JFK.split())
    assert body["metadata"]["model"] == "tiny.en"


def test_translation_needs_a_multilingual_model(jfk_wav: Path) -> None:
    done = run("transcribe", jfk_wav, "--task", "translate")
    assert done.returncode == 2
    assert "English-only" in done.stderr
    done = run("transcribe", jfk_wav, "--task", "translate", "--model", "base", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert count_errors(JFK, json.loads(done.stdout)["text"]).errors <= 3


def _bad_inputs(folder: Path, jfk_files: dict[AudioFormat, Path]) -> dict[str, tuple[Path, str]]:
    text = folder / "notes.wav"
    text.write_text("these are my meeting notes, not audio\n" * 20)
    empty = folder / "empty.wav"
    empty.write_bytes(b"")
    return {
        "text renamed .wav": (text, "not an audio file"),
        "empty file": (empty, "empty"),
        "truncated mp3": (truncated(jfk_files["mp3"]), "truncated"),
        "missing file": (folder / "nope.wav", "no such file"),
    }


@pytest.mark.parametrize(
    "case", ["text renamed .wav", "empty file", "truncated mp3", "missing file"]
)
def test_bad_input_exits_non_zero_with_one_line(
    case: str, jfk_files: dict[AudioFormat, Path], tmp_path: Path
) -> None:
    path, reason = _bad_inputs(tmp_path, jfk_files)[case]
    done = run("transcribe", path)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert reason in lines[0].lower()
    assert "Traceback" not in done.stderr


def test_one_bad_file_does_not_stop_the_others(jfk_wav: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"\x00" * 1000)
    done = run("transcribe", bad, jfk_wav, "--output", tmp_path / "out")
    assert done.returncode == 2
    assert "bad.mp3" in done.stderr
    assert count_errors(JFK, (tmp_path / "out/jfk-inaugural-1961.txt").read_text()).errors == 0


def test_models_commands(tmp_path: Path) -> None:
    done = run("models", "list")
    assert done.returncode == 0
    assert "tiny.en" in done.stdout
    assert "base" in done.stdout
    done = run("models", "verify", "tiny.en")
    assert done.returncode == 0, done.stderr
    assert "tiny.en: OK" in done.stdout
    done = run("models", "path", "tiny.en")
    assert done.returncode == 0
    assert (Path(done.stdout.strip()) / "model.bin").is_file()

    empty = {"ECHOIC_MODELS_DIR": str(tmp_path)}
    done = run("transcribe", "whatever.wav", env=empty)
    assert done.returncode == 1
    assert "echoic models install tiny.en" in done.stderr
    assert "Traceback" not in done.stderr
    done = run("models", "path", "whisper-9000", env=empty)
    assert done.returncode == 2
    assert "unknown model" in done.stderr


def test_bench_rest_starts_and_stops_its_own_server(jfk_wav: Path, tmp_path: Path) -> None:
    out = tmp_path / "rest.json"
    done = run(
        "bench", "rest", jfk_wav, "--clients", "1", "--seconds", "1", "-o", out,
        env={"ECHOIC_DATA_DIR": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [level] = json.loads(out.read_text())["levels"]
    assert level["requests"] >= 1
    assert level["errors"] == 0
    assert "REST throughput" in done.stdout
