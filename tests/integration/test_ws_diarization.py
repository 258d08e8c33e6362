"""Live diarization over ``/v1/listen``: real Silero VAD and the real voice encoder on real
speech of two voices, a scripted engine for the text."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from echoic.bench.stream_clients import pcm16
from echoic.diarize.diarizer import load_diarizer
from echoic.diarize.scripted import ScriptedDiarizer
from echoic.diarize.types import speaker_name
from echoic.engines.scripted import ScriptedEngine
from echoic.server import create_app
from echoic.settings import Settings
from echoic.storage.keys import MemoryKeyStore
from echoic.streaming.speakers import installed_voice_encoder
from echoic.types import SAMPLE_RATE, Audio
from tests.audio_factory import read_wav
from tests.integration.test_ws import events_until_close, make_app
from tests.server_kit import SAID, server_settings
from tests.speech import LJ001_0001_PATH, LS_367_130732_0005_PATH

GAP_S = 1.5
#: Audio goes in this many times faster than real time: faster, and the stream would drop
#: frames to keep up (a ``warning``), and the voices would lose words.
SPEED = 5
CHUNK_BYTES = 1280  # 40 ms of 16 kHz s16


def send_paced(socket: WebSocketTestSession, pcm: bytes) -> None:
    for offset in range(0, len(pcm), CHUNK_BYTES):
        socket.send_bytes(pcm[offset : offset + CHUNK_BYTES])
        time.sleep(CHUNK_BYTES / 32_000 / SPEED)


Spans = list[tuple[float, float, str]]


def conversation(shared_dir: Path, voices: list[tuple[str, str]]) -> tuple[Audio, Spans]:
    """The recordings ``(voice, path)`` one after another, ``GAP_S`` of silence around each;
    each voice's time spans."""
    gap = np.zeros(round(GAP_S * SAMPLE_RATE), np.float32)
    parts = [gap]
    spans = []
    at = GAP_S
    for voice, path in voices:
        audio, rate = read_wav(shared_dir / path)
        assert rate == SAMPLE_RATE
        parts += [audio, gap]
        spans.append((at, at + len(audio) / SAMPLE_RATE, voice))
        at += len(audio) / SAMPLE_RATE + GAP_S
    return np.concatenate(parts), spans


def voice_at(spans: Spans, start: float, end: float) -> str:
    """The voice whose spans hold most of ``[start, end]``."""
    overlap: dict[str, float] = {}
    for lo, hi, voice in spans:
        overlap[voice] = overlap.get(voice, 0.0) + max(0.0, min(end, hi) - max(start, lo))
    return max(overlap, key=lambda voice: overlap[voice])


def check_speakers(finals: list[dict[str, Any]], spans: Spans) -> list[tuple[str, str]]:
    """Every final of one voice has one label, each voice its own, numbered in order of
    appearance, on the final and each of its segments; the (voice, label) of each final."""
    heard = [(voice_at(spans, f["audio_start_s"], f["audio_end_s"]), f["speaker"]) for f in finals]
    order = list(dict.fromkeys(voice for _, _, voice in spans))
    labels = {voice: {label for v, label in heard if v == voice} for voice in order}
    assert labels == {voice: {speaker_name(i)} for i, voice in enumerate(order)}, heard
    assert _turns([v for v, _ in heard]) == _turns([voice for _, _, voice in spans]), heard
    for final in finals:
        assert {s["speaker"] for s in final["segments"]} == {final["speaker"]}
    return heard


def _turns(voices: list[str]) -> list[str]:
    return [v for i, v in enumerate(voices) if i == 0 or voices[i - 1] != v]


@pytest.fixture(scope="module")
def two_voices(shared_dir: Path) -> tuple[bytes, Spans]:
    """Voice A, voice B, voice A again."""
    audio, spans = conversation(
        shared_dir,
        [("A", LS_367_130732_0005_PATH), ("B", LJ001_0001_PATH), ("A", LS_367_130732_0005_PATH)],
    )
    return pcm16(audio), spans


@pytest.mark.slow
def test_finals_carry_speakers_that_follow_the_voices(
    two_voices: tuple[bytes, Spans], models_dir: Path
) -> None:
    pcm, spans = two_voices
    app, _, _ = make_app(speakers=installed_voice_encoder(models_dir))
    with TestClient(app) as client, client.websocket_connect("/v1/listen") as socket:
        socket.send_json({"type": "start", "diarization": True, "interim_results": False})
        send_paced(socket, pcm)
        socket.send_json({"type": "stop"})
        events, code = events_until_close(socket)
    assert code == 1000
    assert not [e for e in events if e["type"] == "warning"]
    assert events[0]["type"] == "ready"
    assert events[0]["diarization"] is True
    check_speakers([e for e in events if e["type"] == "final"], spans)


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


@pytest.mark.slow
def test_the_server_labels_live_streams_with_its_requests_diarizer(
    tmp_path: Path, models_dir: Path
) -> None:
    diarizer = load_diarizer(models_dir)
    app = server_app(tmp_path, diarizer=diarizer)
    with TestClient(app) as client, client.websocket_connect("/v1/listen") as socket:
        socket.send_json({"type": "start", "diarization": True})
        ready = socket.receive_json()
        socket.send_json({"type": "stop"})
        events_until_close(socket)
    assert (ready["type"], ready["diarization"]) == ("ready", True)
    assert app.state.echoic.hub.speakers.load() is diarizer  # one voice encoder, shared


def test_a_diarizer_without_voice_embeddings_cannot_label_live_streams(tmp_path: Path) -> None:
    app = server_app(tmp_path, diarizer=ScriptedDiarizer.alternating(2, every_s=1.0))
    events, code = _opening(app, {"diarization": True})
    assert code == 1011
    [error] = events
    assert (error["type"], error["code"]) == ("error", "model_unavailable")
    assert "ScriptedDiarizer" in error["message"]


def server_app(tmp_path: Path, **kwargs: Any) -> FastAPI:
    return create_app(
        server_settings(tmp_path),
        {"tiny.en": ScriptedEngine.saying(SAID)},
        MemoryKeyStore(),
        **kwargs,
    )
