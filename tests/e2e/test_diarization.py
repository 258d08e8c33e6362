"""Who spoke when, on real speech, through the real models: the voice-encoder diarizer beside
tiny.en, over REST (in process) and from the CLI (a real process)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import webvtt

from echoic.bench.text import count_errors
from echoic.engines.registry import EnginePool
from echoic.server import create_app
from echoic.settings import Settings
from echoic.storage.keys import MemoryKeyStore
from tests.server_kit import server_settings, serving, upload
from tests.speech import JFK, JFK_PATH

pytestmark = pytest.mark.slow

TWO_SPEAKERS = "eval/dev/diarization/pyannote_sample.wav"  # 30 s, a telephone call of two


@pytest.fixture(scope="module")
def pool() -> Iterator[EnginePool]:
    engines = EnginePool(Settings().models_dir)
    yield engines
    asyncio.run(engines.aclose())


def transcribe(tmp_path: Path, pool: EnginePool, audio: bytes, **fields: str) -> dict[str, Any]:
    settings = server_settings(tmp_path, models_dir=Settings().models_dir)
    with serving(create_app(settings, pool, MemoryKeyStore())) as client:
        response = upload(client, audio, data={"model": "tiny.en", **fields})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def speaker_at(segments: list[dict[str, Any]], t: float) -> str:
    """The speaker of the segment that holds time ``t``."""
    holding = [s["speaker"] for s in segments if s["start"] <= t <= s["end"]]
    assert holding, f"no segment at {t} s: {segments}"
    speaker: str = holding[0]
    return speaker


def test_two_speakers_are_told_apart(tmp_path: Path, pool: EnginePool, shared_dir: Path) -> None:
    audio = (shared_dir / TWO_SPEAKERS).read_bytes()
    found = transcribe(tmp_path, pool, audio, response_format="verbose_json", diarization="true")
    told = transcribe(tmp_path, pool, audio, response_format="diarized_json", num_speakers="2")

    segments = found["segments"]
    assert segments
    assert all(s["speaker"] is not None for s in segments)
    assert all(s["speaker"].startswith("SPEAKER_") for s in segments)
    assert found["diarization"] == {
        "enabled": True,
        "speakers": len({s["speaker"] for s in segments}),
    }
    assert found["diarization"]["speakers"] >= 1
    assert "words" not in found
    # Told there are two: the reference (RTTM) has one speaker alone from 10.6 to 14.5 s, the
    # other from 21.8 to 27.8 s; Whisper's segments are split where the speaker changes.
    assert told["diarization"] == {"enabled": True, "speakers": 2}
    assert {s["speaker"] for s in told["segments"]} == {"SPEAKER_00", "SPEAKER_01"}
    assert len(told["segments"]) > len(segments)
    assert speaker_at(told["segments"], 12.5) != speaker_at(told["segments"], 25.0)
    # The segments the two speakers share were decoded again, alone, for their word timings:
    # the same speech, nearly the same words.
    again = count_errors(found["text"], told["text"])
    assert again.wer <= 0.15


def test_one_speaker_is_one_speaker_and_more_asked_for_than_present_still_answers(
    tmp_path: Path, pool: EnginePool, shared_dir: Path
) -> None:
    audio = (shared_dir / JFK_PATH).read_bytes()
    found = transcribe(tmp_path, pool, audio, response_format="diarized_json")
    asked_three = transcribe(
        tmp_path, pool, audio, response_format="diarized_json", num_speakers="3"
    )
    assert count_errors(JFK, found["text"]).errors <= 1
    assert {s["speaker"] for s in found["segments"]} == {"SPEAKER_00"}
    assert found["diarization"] == {"enabled": True, "speakers": 1}
    # One voice asked to be three: an answer with at most three, every segment labelled.
    assert count_errors(JFK, asked_three["text"]).errors <= 1
    assert 1 <= asked_three["diarization"]["speakers"] <= 3
    assert all(s["speaker"] for s in asked_three["segments"])


def test_the_cli_writes_voice_spans(tmp_path: Path, shared_dir: Path) -> None:
    args = ["--diarize", "--max-speakers", "3", "--format", "vtt", "--output", str(tmp_path)]
    args.append(
        "--progress"
    )  # the bar beside the diarizer (it once crashed before its first update)
    done = subprocess.run(
        [sys.executable, "-m", "echoic", "transcribe", str(shared_dir / TWO_SPEAKERS), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    captions = webvtt.read(str(tmp_path / "pyannote_sample.vtt")).captions
    assert captions
    voices = {c.voice for c in captions}
    assert all(v is not None and v.startswith("SPEAKER_") for v in voices)
    assert 1 <= len(voices) <= 3
    assert not any("<v" in c.text for c in captions)  # the voice is the span's, not the text's
