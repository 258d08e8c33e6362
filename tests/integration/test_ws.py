"""The live WebSocket protocol, in process: real Silero VAD on real speech, scripted engine."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from echoic.audio import decode_audio
from echoic.engines.base import Engine
from echoic.engines.scripted import ScriptedEngine, Step
from echoic.errors import ModelNotFoundError, RateLimitedError, UnauthorizedError
from echoic.routing import Providers, ProvidersConfig
from echoic.server import ws
from echoic.settings import Settings
from echoic.streaming.events import Event
from echoic.streaming.hub import StreamHub
from echoic.streaming.protocol import MAX_FRAME_BYTES
from echoic.streaming.speakers import SpeakerEmbeddings
from tests.speech import JFK_PATH

CHUNK = 640  # 20 ms of 16 kHz


class CountingMetrics(ws.StreamMetrics):
    def __init__(self) -> None:
        self.open = 0
        self.events: list[str] = []

    def stream_opened(self) -> None:
        self.open += 1

    def stream_closed(self) -> None:
        self.open -= 1

    def event(self, event: Event) -> None:
        self.events.append(event.type.value)


def _engines() -> dict[str, Engine]:
    return {"tiny.en": ScriptedEngine(steps=[Step(text="ask not what your country can do")])}


def make_app(
    *,
    engines: dict[str, Engine] | None = None,
    authenticate: Any = None,
    max_streams: int | None = None,
    idle_timeout_s: float = 30.0,
    settings: Settings | None = None,
    speakers: SpeakerEmbeddings | None = None,
) -> tuple[FastAPI, CountingMetrics, StreamHub]:
    table = engines or _engines()

    def engine(name: str) -> Engine:
        if name not in table:
            raise ModelNotFoundError(f"unknown model {name!r}")
        return table[name]

    streams = {"open": 0}

    @contextlib.contextmanager
    def acquire(principal: Any) -> Iterator[object]:
        if max_streams is not None and streams["open"] >= max_streams:
            raise RateLimitedError("too many concurrent streams for this key")
        streams["open"] += 1
        try:
            yield principal
        finally:
            streams["open"] -= 1

    metrics = CountingMetrics()
    hub = StreamHub(engine, speakers=speakers)
    app = FastAPI()
    app.include_router(ws.router)
    app.state.echoic = SimpleNamespace(
        ws_deps=ws.WsDeps(
            settings=settings or Settings(model="tiny.en"),
            hub=hub,
            providers=Providers(
                ProvidersConfig(), local=lambda m, _d: engine(m), local_device="cpu", cloud=None
            ),
            authenticate=authenticate,
            acquire_stream=acquire,
            metrics=metrics,
            idle_timeout_s=idle_timeout_s,
        )
    )
    return app, metrics, hub


@pytest.fixture(scope="module")
def jfk_pcm(shared_dir: Path) -> bytes:
    audio = decode_audio(shared_dir / JFK_PATH)
    padded = np.concatenate([np.zeros(8000, np.float32), audio, np.zeros(16000, np.float32)])
    return bytes((np.clip(padded, -1, 1) * 32767).astype("<i2").tobytes())


def send_audio(socket: WebSocketTestSession, pcm: bytes, frame: int = CHUNK * 2) -> None:
    for offset in range(0, len(pcm), frame):
        socket.send_bytes(pcm[offset : offset + frame])


def events_until_close(socket: WebSocketTestSession) -> tuple[list[dict[str, Any]], int]:
    events: list[dict[str, Any]] = []
    while True:
        message = socket.receive()
        if message["type"] == "websocket.close":
            return events, int(message.get("code", 1000))
        events.append(json.loads(message["text"]))


def test_a_session_from_start_to_end(jfk_pcm: bytes) -> None:
    app, metrics, hub = make_app()
    with TestClient(app) as client, client.websocket_connect("/v1/listen") as socket:
        socket.send_json({"type": "start", "sample_rate": 16000, "encoding": "pcm_s16le"})
        send_audio(socket, jfk_pcm)
        socket.send_json({"type": "stop"})
        events, code = events_until_close(socket)
    assert code == 1000
    types = [e["type"] for e in events]
    assert types[0] == "ready"
    assert types[-1] == "end"
    assert "speech_started" in types
    assert "speech_ended" in types
    finals = [e for e in events if e["type"] == "final"]
    assert finals
    assert all(f["text"] == "ask not what your country can do" for f in finals)
    assert [e["seq"] for e in events] == sorted({e["seq"] for e in events})
    assert len({e["session_id"] for e in events}) == 1
    assert events[-1]["usage"]["utterances"] == len(finals)
    assert events[-1]["usage"]["audio_s"] == pytest.approx(len(jfk_pcm) / 32000, abs=0.05)
    assert metrics.open == 0
    assert metrics.events.count("final") == len(finals)
    assert hub.active == 0


def test_configuration_from_query_parameters_and_any_sample_rate(jfk_pcm: bytes) -> None:
    audio = np.frombuffer(jfk_pcm, dtype="<i2").astype(np.float32) / 32768
    resampled = np.interp(np.arange(0, len(audio), 16000 / 48000), np.arange(len(audio)), audio)
    f32 = resampled.astype("<f4").tobytes()
    app, _, _ = make_app()
    url = (
        "/api/v1/audio/stream/transcribe?sample_rate=48000&encoding=pcm_f32le&interim_results=false"
        "&skip_confirm_logprob=-0.3"
    )
    with TestClient(app) as client, client.websocket_connect(url) as socket:
        send_audio(socket, f32, frame=48000 * 4 // 50)
        socket.send_json({"type": "stop"})
        events, code = events_until_close(socket)
    assert code == 1000
    ready = events[0]
    assert ready["config"]["sample_rate"] == 48000
    assert ready["config"]["encoding"] == "pcm_f32le"
    assert ready["config"]["skip_confirm_logprob"] == -0.3
    assert not [e for e in events if e["type"] == "partial"], "interim_results=false"
    assert [e for e in events if e["type"] == "final"]


def stream_events(app: FastAPI, query: str, pcm: bytes) -> list[dict[str, Any]]:
    with TestClient(app) as client, client.websocket_connect("/v1/listen" + query) as socket:
        send_audio(socket, pcm)
        socket.send_json({"type": "stop"})
        events, code = events_until_close(socket)
    assert code == 1000
    return events


def test_speculative_mode_confirms_with_the_drafting_model_by_default(jfk_pcm: bytes) -> None:
    app, _, _ = make_app()
    events = stream_events(app, "?mode=speculative", jfk_pcm)
    assert (events[0]["mode"], events[0]["models"]) == ("speculative", ["tiny.en"])
    confidences = {e["confidence"] for e in events if e["type"] == "partial"}
    assert "confirmed" in confidences  # 11 s of speech: confirmed every second
    single = stream_events(make_app()[0], "", jfk_pcm)
    assert (single[0]["mode"], single[0]["models"]) == ("single", ["tiny.en"])
    assert "confirmed" not in {e["confidence"] for e in single if e["type"] == "partial"}


@pytest.mark.parametrize(
    ("interim", "confidences", "announced"),
    [
        ("true", {"draft", "confirmed"}, True),
        ("confirmed", {"confirmed"}, "confirmed"),  # confirmations without drafts
        ("false", set(), False),  # finals only, as Deepgram's clients expect
    ],
)
def test_interim_results(
    jfk_pcm: bytes, interim: str, confidences: set[str], announced: bool | str
) -> None:
    app, _, _ = make_app()
    events = stream_events(app, f"?mode=speculative&interim_results={interim}", jfk_pcm)
    assert events[0]["interim_results"] == announced
    assert {e["confidence"] for e in events if e["type"] == "partial"} == confidences
    assert [e for e in events if e["type"] == "final"]


def test_a_confirming_model_makes_a_stream_speculative(jfk_pcm: bytes) -> None:
    engines = _engines() | {"base": ScriptedEngine(steps=[Step(text="ask not what your country")])}
    app, _, _ = make_app(engines=engines)
    events = stream_events(app, "?confirm_model=base", jfk_pcm)
    assert (events[0]["mode"], events[0]["models"]) == ("speculative", ["tiny.en", "base"])
    finals = [e for e in events if e["type"] == "final"]
    assert finals
    assert {f["text"] for f in finals} == {"ask not what your country"}  # base's words


@pytest.mark.parametrize(
    ("send", "code"),
    [
        (lambda s: s.send_text("{not json"), "invalid_json"),
        (lambda s: s.send_text('["a list"]'), "invalid_message"),
        (lambda s: s.send_json({"type": "sing"}), "unknown_message_type"),
        (lambda s: s.send_bytes(b"\x00\x01\x02"), "invalid_audio"),
        (lambda s: s.send_bytes(b"\x00" * (MAX_FRAME_BYTES + 2)), "frame_too_large"),
        (lambda s: s.send_json({"type": "start"}), "invalid_message"),  # start after audio
    ],
)
def test_bad_messages_get_an_error_event_and_the_stream_goes_on(send: Any, code: str) -> None:
    app, _, _ = make_app()
    with TestClient(app) as client, client.websocket_connect("/v1/listen") as socket:
        socket.send_bytes(b"\x00\x00" * CHUNK)  # audio first: the stream opens with defaults
        assert socket.receive_json()["type"] == "ready"
        send(socket)
        error = socket.receive_json()
        assert error["type"] == "error"
        assert error["code"] == code
        assert error["message"]
        socket.send_json({"type": "keepalive"})
        socket.send_json({"type": "stop"})
        events, close = events_until_close(socket)
    assert close == 1000
    assert events[-1]["type"] == "end"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("?sample_rate=12", "invalid_start"),
        ("?model=whisper-9000", "model_not_found"),
        ("?skip_confirm_logprob=0.5", "invalid_start"),  # a log-probability is never positive
        ("?mode=fast", "invalid_start"),
        ("?mode=single&confirm_model=tiny.en", "invalid_request"),
        ("?interim_results=maybe", "invalid_start"),
    ],
)
def test_bad_configuration_closes_with_4400(query: str, code: str) -> None:
    app, _, _ = make_app()
    with TestClient(app) as client, client.websocket_connect("/v1/listen" + query) as socket:
        socket.send_json({"type": "start"})
        events, close = events_until_close(socket)
    assert close == 4400
    assert events[-1]["type"] == "error"
    assert events[-1]["code"] == code


def test_finalize_ends_the_utterance_now(jfk_pcm: bytes) -> None:
    app, _, _ = make_app()
    with TestClient(app) as client, client.websocket_connect("/v1/listen") as socket:
        send_audio(socket, jfk_pcm[: 32000 * 3])  # 3 s: in the middle of speech
        socket.send_json({"type": "finalize"})
        socket.send_json({"type": "stop"})
        events, _ = events_until_close(socket)
    ended = [e for e in events if e["type"] == "speech_ended"]
    assert ended[0]["reason"] == "finalize"


def test_pause_and_resume(jfk_pcm: bytes) -> None:
    app, _, _ = make_app()
    with TestClient(app) as client, client.websocket_connect("/v1/listen") as socket:
        socket.send_json({"type": "pause"})
        send_audio(socket, jfk_pcm)  # ignored while paused
        socket.send_json({"type": "resume"})
        socket.send_json({"type": "stop"})
        events, _ = events_until_close(socket)
    assert [e["type"] for e in events] == ["ready", "end"]


def test_idle_connections_are_closed() -> None:
    app, _, _ = make_app(idle_timeout_s=0.3)
    with TestClient(app) as client, client.websocket_connect("/v1/listen") as socket:
        socket.send_json({"type": "start"})
        events, code = events_until_close(socket)
    assert code == 1000
    assert [e["type"] for e in events] == ["ready", "error", "end"]
    assert events[1]["code"] == "idle_timeout"


def _auth(token: str | None) -> str:
    if token != "secret":
        raise UnauthorizedError("invalid API key")
    return "key-1"


@pytest.mark.parametrize(
    ("headers", "first", "accepted"),
    [
        ({"Authorization": "Bearer secret"}, None, True),
        ({"X-API-Key": "secret"}, None, True),
        ({}, {"type": "auth", "token": "secret"}, True),
        ({"Authorization": "Bearer wrong"}, None, False),
        ({}, {"type": "start"}, False),
    ],
)
def test_authentication(
    headers: dict[str, str], first: dict[str, Any] | None, accepted: bool
) -> None:
    app, _, _ = make_app(authenticate=_auth)
    with (
        TestClient(app) as client,
        client.websocket_connect("/v1/listen", headers=headers) as socket,
    ):
        if first is not None:
            socket.send_json(first)
        if accepted:
            socket.send_json({"type": "start"})
            assert socket.receive_json()["type"] == "ready"
            socket.send_json({"type": "stop"})
        events, code = events_until_close(socket)
    if accepted:
        assert code == 1000
    else:
        assert code == 4401
        assert events[-1]["code"] == "invalid_api_key"


def test_stream_cap_closes_with_4429() -> None:
    app, _, _ = make_app(max_streams=1)
    with TestClient(app) as client, client.websocket_connect("/v1/listen") as first:
        first.send_json({"type": "start"})
        assert first.receive_json()["type"] == "ready"
        with client.websocket_connect("/v1/listen") as second:
            events, code = events_until_close(second)
        assert code == 4429
        assert events[-1]["code"] == "rate_limit_exceeded"
        first.send_json({"type": "stop"})
        _, code = events_until_close(first)
        assert code == 1000


def test_a_client_that_vanishes_mid_utterance_does_not_disturb_others(jfk_pcm: bytes) -> None:
    app, metrics, hub = make_app()
    with TestClient(app) as client:
        with client.websocket_connect("/v1/listen") as gone:
            send_audio(gone, jfk_pcm[: 32000 * 4])
            assert gone.receive_json()["type"] == "ready"
        # the server notices the disconnect and cancels that stream
        with client.websocket_connect("/v1/listen") as socket:
            send_audio(socket, jfk_pcm)
            socket.send_json({"type": "stop"})
            events, code = events_until_close(socket)
        assert code == 1000
        assert [e for e in events if e["type"] == "final"]
    assert hub.active == 0
    assert metrics.open == 0


def test_contradicting_end_of_turn_waits_close_with_4400() -> None:
    app, _, _ = make_app()
    with TestClient(app) as client, client.websocket_connect("/v1/listen") as socket:
        socket.send_json({"type": "start", "vad": {"end_of_sentence_ms": 900}})
        events, close = events_until_close(socket)
    assert close == 4400
    assert events[-1]["code"] == "invalid_request"
    assert "end_of_sentence_ms" in events[-1]["message"]


def test_a_client_transcript_sent_after_stop_still_makes_the_final(jfk_pcm: bytes) -> None:
    """A page that transcribes itself learns that the open utterance ended only from the
    ``speech_ended`` the stop causes: its transcript comes after the stop, and must count."""
    app, _, _ = make_app()
    speech_only = jfk_pcm[: len(jfk_pcm) - 32000]  # no trailing silence: the stop ends it
    with TestClient(app) as client, client.websocket_connect("/v1/listen") as socket:
        socket.send_json({"type": "start", "client_transcripts": True})
        send_audio(socket, speech_only)
        socket.send_json({"type": "stop"})
        events: list[dict[str, Any]] = []
        while True:
            message = socket.receive()
            if message["type"] == "websocket.close":
                break
            events.append(json.loads(message["text"]))
            if events[-1]["type"] == "speech_ended":
                socket.send_bytes(b"\x00\x00" * 320)  # audio after stop is ignored
                utterance = events[-1]["utterance_id"]
                socket.send_json({"type": "transcript", "utterance_id": utterance, "text": "ask"})
    assert int(message.get("code", 1000)) == 1000
    ended = [e for e in events if e["type"] == "speech_ended"]
    assert ended[-1]["reason"] == "stop"
    finals = [e for e in events if e["type"] == "final"]
    assert [f["utterance_id"] for f in finals] == [e["utterance_id"] for e in ended]
    assert {(f["source"], f["text"]) for f in finals} == {("client", "ask")}
    assert not [e for e in events if e["type"] in ("fallback", "error")]
    assert events[-1]["type"] == "end"
