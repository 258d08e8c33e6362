"""``echoic listen`` as a user runs it: a real process streaming real speech through tiny.en."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from echoic.bench.stream_clients import pcm16
from echoic.bench.text import count_errors
from tests.audio_factory import wav_bytes
from tests.e2e.test_cli import jfk_wav, run
from tests.e2e.test_listen_diarization import VOICES
from tests.integration.test_ws_diarization import check_speakers, conversation
from tests.speech import JFK

pytestmark = pytest.mark.slow

__all__ = ["jfk_wav"]  # the fixture, shared with the transcribe tests


def events_of(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_a_session_file_streams_to_finals_that_match_its_speech(shared_dir: Path) -> None:
    session = shared_dir / "eval/dev/sessions/session_02.wav"
    reference = json.loads(session.with_suffix(".json").read_text())["text"]
    done = run("listen", "--input", session, "--json")
    assert done.returncode == 0, done.stderr
    events = events_of(done.stdout)
    assert (events[0]["type"], events[0]["mode"], events[0]["models"]) == (
        "ready",
        "single",
        ["tiny.en"],
    )
    assert events[-1]["type"] == "end"
    finals = [e for e in events if e["type"] == "final"]
    assert len(finals) >= 5  # seven sentences with pauses between them
    assert events[-1]["usage"]["utterances"] == len(finals)
    text = " ".join(f["text"] for f in finals)
    assert count_errors(reference, text).wer < 0.12  # 5.8 % in `echoic bench stream`
    assert all(f["latency"]["total_ms"] >= 0 for f in finals)


def test_speculative_mode_shows_confirmed_text_before_the_final(jfk_wav: Path) -> None:
    done = run("listen", "--input", jfk_wav, "--realtime", "--json", "--mode", "speculative")
    assert done.returncode == 0, done.stderr
    events = events_of(done.stdout)
    assert (events[0]["mode"], events[0]["models"]) == ("speculative", ["tiny.en"])
    partials = [e for e in events if e["type"] == "partial"]
    assert {p["confidence"] for p in partials} == {"draft", "confirmed"}
    confirmed = [p for p in partials if p["confidence"] == "confirmed"]
    # A confirmation replaces drafts shown before it (none, when it came first).
    assert all(max(p["corrects_window_ids"], default=0) < p["window_id"] for p in confirmed)
    assert any(p["corrects_window_ids"] for p in confirmed)
    text = " ".join(e["text"] for e in events if e["type"] == "final")
    assert count_errors(JFK, text).errors <= 2


def test_a_confirming_model_in_single_mode_is_a_usage_error(jfk_wav: Path) -> None:
    done = run("listen", "--input", jfk_wav, "--mode", "single", "--confirm-model", "base")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().startswith("error: ")
    assert "speculative" in done.stderr
    assert "Traceback" not in done.stderr


def test_diarize_labels_the_finals_of_a_conversation_by_voice(
    shared_dir: Path, tmp_path: Path
) -> None:
    audio, spans = conversation(shared_dir, VOICES)
    path = tmp_path / "conversation.wav"
    path.write_bytes(wav_bytes(pcm16(audio)))
    done = run("listen", "--input", path, "--json", "--diarize")
    assert done.returncode == 0, done.stderr
    events = events_of(done.stdout)
    assert events[0]["diarization"] is True
    check_speakers([e for e in events if e["type"] == "final"], spans)

    plain = run("listen", "--input", path, "--diarize", "--max-speakers", "2")
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.splitlines()
    assert lines
    assert {line.split(": ", 1)[0] for line in lines} == {"SPEAKER_00", "SPEAKER_01"}


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--max-speakers", "2"], {}, "--max-speakers needs --diarize"),
        (["--diarize"], {"ECHOIC_MODELS_DIR": "{tmp}"}, "echoic models install voice-encoder"),
    ],
)
def test_diarize_usage_errors_are_one_line(
    jfk_wav: Path, tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    done = run(
        "listen",
        "--input",
        jfk_wav,
        *args,
        env={k: v.format(tmp=tmp_path) for k, v in env.items()},
    )
    assert done.returncode in (1, 2)
    assert done.stdout == ""
    assert done.stderr.strip().startswith("error: ")
    assert message in done.stderr
    assert "Traceback" not in done.stderr
