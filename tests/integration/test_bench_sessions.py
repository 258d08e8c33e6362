"""``echoic bench sessions``: sessions assembled from the real dev manifest, checked on their
audio (speech where the sidecar says, silence or the noise bed elsewhere)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from echoic.audio.decode import decode_audio
from echoic.bench.alignment import CachedAligner
from echoic.bench.assemble import AssembleOptions, build_sessions
from echoic.bench.engine import load_engine
from echoic.bench.manifest import load_manifest
from echoic.bench.session_split import Part
from echoic.bench.speech_edges import speech_edges
from echoic.bench.stream import session_files
from echoic.cli import cli
from echoic.engines.faster_whisper import DeviceConfig
from echoic.types import SAMPLE_RATE, Audio

SR = SAMPLE_RATE


def level_db(audio: Audio) -> float:
    power = float(np.mean(np.asarray(audio, dtype=np.float64) ** 2)) if len(audio) else 0.0
    return 10 * np.log10(power) if power > 0 else -120.0


def median_frame_db(audio: Audio) -> float:
    frames = len(audio) // 160
    blocks = np.asarray(audio[: frames * 160], dtype=np.float64).reshape(frames, 160)
    return float(np.median(10 * np.log10(np.mean(blocks**2, axis=1) + 1e-12)))


def span(audio: Audio, start_s: float, end_s: float) -> Audio:
    return audio[round(start_s * SR) : round(end_s * SR)]


def sidecars(out: Path) -> list[tuple[dict[str, Any], Audio]]:
    return [
        (json.loads(wav.with_suffix(".json").read_text()), decode_audio(wav))
        for wav in sorted(out.glob("session_*.wav"))
    ]


def test_speech_edges_agree_with_the_dev_sessions(eval_dir: Path) -> None:
    """The dev sidecars' own energy estimates (20 ms frames, ±20–40 ms) vs ours."""
    audio_of = {u.id: u.audio for u in load_manifest(eval_dir / "manifest.jsonl")}
    errors: list[float] = []
    for sidecar in sorted((eval_dir / "sessions").glob("*.json")):
        for segment in json.loads(sidecar.read_text())["segments"]:
            edges = speech_edges(decode_audio(audio_of[segment["id"]]))
            errors.append(abs(edges.start_s - (segment["speech_start_s"] - segment["start_s"])))
            errors.append(abs(edges.end_s - (segment["speech_end_s"] - segment["start_s"])))
    assert len(errors) == 42
    assert np.median(errors) <= 0.02
    assert sum(e <= 0.04 for e in errors) >= 38
    assert max(errors) <= 0.06


def test_sessions_from_the_manifest_have_speech_where_their_sidecars_say(
    eval_dir: Path, tmp_path: Path
) -> None:
    options = AssembleOptions(
        manifest=eval_dir / "manifest.jsonl",
        corpora=("librispeech", "ljspeech"),
        part=Part.REPORT,
        utterances=10,
        seed=7,
        per_session=5,
    )
    result = build_sessions(options, tmp_path / "a")
    assert result.utterances == 10
    assert len(result.sessions) == 2
    build_sessions(options, tmp_path / "b")
    for name in ("session_01.wav", "session_02.json", "build.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert [len(s.references) for s in session_files((tmp_path / "a",))] == [5, 5]
    dev = {
        segment["id"]
        for sidecar in (eval_dir / "sessions").glob("*.json")
        for segment in json.loads(sidecar.read_text())["segments"]
    }
    for meta, audio in sidecars(tmp_path / "a"):
        segments = meta["segments"]
        assert not dev & {s["id"] for s in segments}  # report: never heard in a dev session
        for s in segments:
            speech = level_db(span(audio, s["speech_start_s"], s["speech_end_s"]))
            assert speech > -35.0, s["id"]
            # The first and last 100 ms of speech are speech, not room.
            assert level_db(span(audio, s["speech_start_s"], s["speech_start_s"] + 0.1)) > (
                speech - 20
            ), s["id"]
            assert level_db(span(audio, s["speech_end_s"] - 0.1, s["speech_end_s"])) > (
                speech - 20
            ), s["id"]
        for left, right in itertools.pairwise(segments):
            gap_s = right["speech_start_s"] - left["speech_end_s"]
            assert 0.6 <= gap_s <= 1.5
            # Between the clips: digital silence; inside the gap, at least the room is quiet.
            assert not audio[left["end_sample"] : right["start_sample"]].any()
            # Inside the gap, the recordings' own edges are room: quiet in most of their frames
            # (a breath or a click may remain; speaker 1688 reads over a -44 dBFS hiss).
            room = span(audio, left["speech_end_s"] + 0.03, right["speech_start_s"] - 0.03)
            assert median_frame_db(room) < -40.0


def test_the_cli_builds_over_a_noise_bed_and_shows_the_split(
    eval_dir: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    out = tmp_path / "lj"
    args = ["bench", "sessions", "build", "--manifest", str(eval_dir / "manifest.jsonl")]
    args += ["--corpus", "ljspeech", "--utterances", "4", "--seed", "2"]
    args += ["--background", "noise-50dBFS", "--gap", "1.0-1.2", "--out", str(out)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "1 sessions, 4 utterances (of 16 in the part)" in result.output
    ((meta, audio),) = sidecars(out)
    assert meta["part"] == "report"
    assert meta["corpus"] == ["ljspeech"]
    assert "-50 dBFS" in meta["background"]
    assert level_db(span(audio, 0.0, 0.25)) == pytest.approx(-50.0, abs=1.5)  # the bed alone
    assert level_db(audio) > -40.0

    split = runner.invoke(
        cli, ["bench", "sessions", "split", "--manifest", str(eval_dir / "manifest.jsonl")]
    )
    assert split.exit_code == 0, split.output
    assert "librispeech  tune  21  report  20" in split.output
    assert "ljspeech     tune  16  report  16" in split.output

    bad = runner.invoke(cli, [*args[:5], "--corpus", "klingon", "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0
    assert "no corpus klingon" in bad.output


@pytest.mark.slow
def test_pauses_open_real_sentences_at_word_boundaries(
    eval_dir: Path, models_dir: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "alignments.json"

    def aligner() -> CachedAligner:
        return CachedAligner(
            lambda: load_engine("tiny.en", models_dir, DeviceConfig(device="cpu")).engine,
            "tiny.en",
            cache,
        )

    options = AssembleOptions(
        manifest=eval_dir / "manifest.jsonl",
        corpora=("librispeech",),
        part=Part.REPORT,
        utterances=2,
        seed=1,
        pauses_s=(0.6, 1.2),
    )
    first = aligner()
    build_sessions(options, tmp_path / "a", aligner=first)
    assert first.transcribed >= 2
    ((meta, audio),) = sidecars(tmp_path / "a")
    assert len(meta["segments"]) == 2  # one reference per sentence, pauses and all
    for s in meta["segments"]:
        assert 1 <= len(s["pauses"]) <= 2
        edges = [s["speech_start_s"]]
        for pause in s["pauses"]:
            assert 0.6 <= pause["pause_s"] <= 1.2
            assert not span(audio, pause["start_s"], pause["end_s"]).any()
            edges += [pause["start_s"], pause["end_s"]]
        edges.append(s["speech_end_s"])
        for start, end in zip(edges[::2], edges[1::2], strict=True):
            assert end - start >= 0.9  # about a second of speech around each pause
            assert level_db(span(audio, start, end)) > -35.0
    # Built again from the cached words: nothing transcribed, the same bytes.
    again = aligner()
    build_sessions(options, tmp_path / "b", aligner=again)
    assert again.transcribed == 0
    wav = "session_01.wav"
    assert (tmp_path / "a" / wav).read_bytes() == (tmp_path / "b" / wav).read_bytes()
