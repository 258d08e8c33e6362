"""Live diarization over ``/v1/listen``: real Silero VAD and the real voice encoder on real
speech of two voices, a scripted engine for the text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from echoic.settings import Settings
from echoic.streaming.speakers import installed_voice_encoder
from tests.audio_factory import read_wav
from tests.integration.test_ws import events_until_close, make_app, send_audio
from tests.speech import LJ001_0001_PATH, LS_367_130732_0005_PATH

GAP_S = 1.5


def _pcm(audio: np.ndarray[Any, Any]) -> bytes:
    return bytes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())


@pytest.fixture(scope="module")
def two_voices(shared_dir: Path) -> tuple[bytes, list[tuple[float, float, str]]]:
    """Voice A, voice B, voice A again, 1.5 s of silence around each; the voices' time spans."""
    a, _ = read_wav(shared_dir / LS_367_130732_0005_PATH)
    b, _ = read_wav(shared_dir / LJ001_0001_PATH)
    gap = np.zeros(round(GAP_S * 16_000), np.float32)
    parts: list[np.ndarray[Any, Any]] = [gap]
    spans = []
    at = GAP_S
    for voice, name in ((a, "A"), (b, "B"), (a, "A")):
        parts += [voice, gap]
        spans.append((at, at + len(voice) / 16_000, name))
        at += len(voice) / 16_000 + GAP_S
    return _pcm(np.concatenate(parts)), spans


def _voice_at(spans: list[tuple[float, float, str]], start: float, end: float) -> str:
    """The voice whose span holds most of ``[start, end]``."""
    overlap = {name: max(0.0, min(end, hi) - max(start, lo)) for lo, hi, name in spans}
    return max(overlap, key=lambda name: overlap[name])


@pytest.mark.slow
def test_finals_carry_speakers_that_follow_the_voices(
    two_voices: tuple[bytes, list[tuple[float, float, str]]], models_dir: Path
) -> None:
    pcm, spans = two_voices
    app, _, _ = make_app(speakers=installed_voice_encoder(models_dir))
    with TestClient(app) as client, client.websocket_connect("/v1/listen") as socket:
        socket.send_json({"type": "start", "diarization": True, "interim_results": False})
        send_audio(socket, pcm)
        socket.send_json({"type": "stop"})
        events, code = events_until_close(socket)
    assert code == 1000
    assert events[0]["type"] == "ready"
    assert events[0]["diarization"] is True
    finals = [e for e in events if e["type"] == "final"]
    assert len(finals) >= 3
    heard = [(_voice_at(spans, f["audio_start_s"], f["audio_end_s"]), f["speaker"]) for f in finals]
    # Every final of one voice has one label, the two voices two, in order of appearance.
    labels = {voice: {speaker for v, speaker in heard if v == voice} for voice in ("A", "B")}
    assert labels == {"A": {"SPEAKER_00"}, "B": {"SPEAKER_01"}}, heard
    turns = [v for i, (v, _) in enumerate(heard) if i == 0 or heard[i - 1][0] != v]
    assert turns == ["A", "B", "A"], heard
    for final in finals:
        assert {s["speaker"] for s in final["segments"]} == {final["speaker"]}


def _opening(app: Any, start: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    with TestClient(app) as client, client.websocket_connect("/v1/listen") as socket:
        socket.send_json({"type": "start", **start})
        return events_until_close(socket)


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ({"diarization": "sometimes"}, "diarization: Input should be a valid boolean"),
        ({"diarization": True, "max_speakers": 0}, "max_speakers: Input should be greater"),
        ({"max_speakers": 2}, "max_speakers needs diarization: true"),
    ],
)
def test_a_bad_diarization_start_is_refused(start: dict[str, Any], message: str) -> None:
    app, metrics, _ = make_app()
    events, code = _opening(app, start)
    assert code == 4400
    [error] = events
    assert (error["type"], error["code"]) == ("error", "invalid_start")
    assert message in error["message"]
    assert metrics.open == 0


def test_diarization_turned_off_on_the_server_is_refused(tmp_path: Path) -> None:
    app, _, _ = make_app(
        settings=Settings(model="tiny.en", diarization_enabled=False),
        speakers=installed_voice_encoder(tmp_path),
    )
    events, code = _opening(app, {"diarization": True})
    assert code == 4400
    [error] = events
    assert (error["type"], error["code"]) == ("error", "invalid_value")
    assert "ECHOIC_DIARIZATION_ENABLED" in error["message"]


def test_diarization_without_the_voice_encoder_names_the_install_command(tmp_path: Path) -> None:
    app, _, hub = make_app(speakers=installed_voice_encoder(tmp_path))  # nothing installed
    events, code = _opening(app, {"diarization": True})
    assert code == 1011
    [error] = events
    assert (error["type"], error["code"]) == ("error", "model_not_installed")
    assert "echoic models install voice-encoder" in error["message"]
    assert hub.active == 0


def test_ready_says_whether_the_stream_diarizes(tmp_path: Path) -> None:
    # A stream that does not diarize never loads the encoder (none is installed here).
    app, _, _ = make_app(speakers=installed_voice_encoder(tmp_path))
    with TestClient(app) as client, client.websocket_connect("/v1/listen") as socket:
        socket.send_json({"type": "start"})
        ready = socket.receive_json()
        socket.send_json({"type": "stop"})
        events_until_close(socket)
    assert (ready["type"], ready["diarization"]) == ("ready", False)
    assert ready["config"]["diarization"] is False
