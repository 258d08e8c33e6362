"""``echoic bench diarization`` on real speech: conversations of the dev manifest's readers,
and the diarizer scored on one of them."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from echoic.audio.decode import decode_audio
from echoic.bench.rttm import read_rttm
from echoic.cli import cli
from echoic.types import SAMPLE_RATE

SR = SAMPLE_RATE


def rms_db(samples: np.ndarray) -> float:
    power = float(np.mean(np.asarray(samples, dtype=np.float64) ** 2))
    return 10 * np.log10(power) if power > 0 else -120.0


def level(audio: np.ndarray, start_s: float, end_s: float) -> float:
    return rms_db(audio[round(start_s * SR) : round(end_s * SR)])


def build(eval_dir: Path, out: Path, *args: str) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "bench",
            "diarization",
            "build",
            "--manifest",
            str(eval_dir / "manifest.jsonl"),
            "--out",
            str(out),
            *args,
        ],
    )
    assert result.exit_code == 0, result.output


def test_conversations_of_the_dev_readers_have_speech_where_their_rttm_says(
    eval_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "conversations"
    build(eval_dir, out, "--conversations", "2", "--seed", "3")
    index = json.loads((out / "build.json").read_text())
    # The report half of the four LibriSpeech readers and LJSpeech's.
    assert set(index["speaker_pools"]) == {
        "librispeech-1688",
        "librispeech-2033",
        "librispeech-367",
        "librispeech-533",
        "ljspeech-LJ",
    }
    for wav in sorted(out.glob("conversation_*.wav")):
        meta = json.loads(wav.with_suffix(".json").read_text())
        reference = read_rttm(wav.with_suffix(".rttm"))
        audio = decode_audio(wav)
        assert 2 <= meta["num_speakers"] <= 4
        assert {t.speaker for t in reference} == set(meta["speakers"])
        speakers = [s["speaker"] for s in meta["segments"]]
        assert all(a != b for a, b in itertools.pairwise(speakers))

        for turn in reference:
            assert level(audio, turn.start, turn.end) > -40
        for left, right in itertools.pairwise(reference):
            assert right.start >= left.end  # no overlap
            if right.start - left.end > 0.2:  # silence, or a room far under the voices
                quiet = level(audio, left.end + 0.05, right.start - 0.05)
                voices = min(
                    level(audio, left.start, left.end), level(audio, right.start, right.end)
                )
                assert quiet < voices - 15


def test_the_diarizer_on_an_assembled_conversation(
    eval_dir: Path, models_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "conversations"
    build(eval_dir, out, "--conversations", "1", "--speakers", "2", "--turns", "4", "--seed", "1")
    report = tmp_path / "diarization.json"
    result = CliRunner().invoke(
        cli,
        [
            "bench",
            "diarization",
            "--set",
            f"conversation={out}",
            "--no-longform",
            "-o",
            str(report),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert report.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
    (conversation,) = data["sets"]
    (file,) = conversation["per_file"]
    assert file["reference_speakers"] == 2
    assert file["hypothesis_speakers"] == 2
    assert file["der"] < 0.10  # 4.5 % at the default threshold; one speaker found: 19 %
    assert conversation["seconds_per_audio_minute"] > 0
    assert data["speaker_count"] == "auto"
    assert data["collar_s"] == 0.5


def test_bad_arguments_are_one_line_before_any_model_loads(tmp_path: Path) -> None:
    runner = CliRunner()
    for args, message in [
        (["--set", "no-equals-sign"], "expected NAME=DIR"),
        (["--oracle-count", "--num-speakers", "2"], "--oracle-count gives each file its count"),
        (["build", "--speakers", "1-3", "--out", str(tmp_path)], "at least 2 speakers"),
        (["build", "--turns", "two", "--out", str(tmp_path)], "is not LOW-HIGH"),
    ]:
        result = runner.invoke(cli, ["bench", "diarization", *args])
        assert result.exit_code == 2, result.output
        assert message in result.output
