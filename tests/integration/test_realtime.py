"""``/v1/realtime`` in process: OpenAI's transcription protocol over real Silero VAD on real
speech, with the scripted engine; malformed client events get ``error`` events."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from echoic.errors import UnauthorizedError
from echoic.server import realtime
from echoic.server.realtime_events import MAX_APPEND_BYTES, RealtimeError, decode_append
from tests.integration.test_ws import CHUNK, jfk_pcm, make_app

__all__ = ["jfk_pcm"]  # the fixture, shared with the /v1/listen tests


URL = "/v1/realtime?intent=transcription"
TEXT = "ask not what your country can do"
UPDATE = {
    "type": "session.update",
    "session": {
        "type": "transcription",
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 16000},
                "transcription": {"model": "whisper-1"},
                "turn_detection": {"type": "server_vad"},
            }
        },
    },
}


def app_with_realtime(**kwargs: Any) -> tuple[FastAPI, Any]:
    app, metrics, _hub = make_app(**kwargs)
    app.include_router(realtime.router)
    return app, metrics


def receive(socket: WebSocketTestSession) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(socket.receive_text())
    return data


def until(socket: WebSocketTestSession, kind: str) -> list[dict[str, Any]]:
    events = []
    while True:
        events.append(receive(socket))
        if events[-1]["type"] == kind:
            return events


def append(socket: WebSocketTestSession, pcm: bytes) -> None:
    for offset in range(0, len(pcm), CHUNK * 2):
        chunk = base64.b64encode(pcm[offset : offset + CHUNK * 2]).decode()
        socket.send_json({"type": "input_audio_buffer.append", "audio": chunk})


def transcribe(socket: WebSocketTestSession, pcm: bytes) -> list[dict[str, Any]]:
    socket.send_json(UPDATE)
    assert until(socket, "session.updated")[-1]["session"]["audio"]["input"]["format"] == {
        "type": "audio/pcm",
        "rate": 16000,
    }
    append(socket, pcm)
    return until(socket, "conversation.item.input_audio_transcription.completed")


def update_with(**input_fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(json.dumps(UPDATE))
    event["session"]["audio"]["input"].update(input_fields)
    return event


def configured(socket: WebSocketTestSession, event: dict[str, Any]) -> None:
    socket.send_json(UPDATE)
    until(socket, "session.updated")
    socket.send_json(event)


BIG = "A" * ((20 * 1024 * 1024 + 2) // 3 * 4)  # 20 MB of audio, as base64

# (name, what the client sends (before any session.update), the error's code, its param)
MALFORMED: list[tuple[str, Callable[[WebSocketTestSession], None], str, str | None]] = [
    ("not json", lambda s: s.send_text("{nope"), "invalid_json", None),
    ("not an object", lambda s: s.send_text("[1, 2]"), "invalid_event", "type"),
    (
        "unknown type",
        lambda s: s.send_json({"type": "response.create"}),
        "invalid_event_type",
        "type",
    ),
    ("binary frame", lambda s: s.send_bytes(b"\x00\x01"), "invalid_event", None),
    (
        "append before update",
        lambda s: s.send_json({"type": "input_audio_buffer.append", "audio": "AAAA"}),
        "session_not_configured",
        None,
    ),
    (
        "bad base64",
        lambda s: configured(s, {"type": "input_audio_buffer.append", "audio": "%%%not base64"}),
        "invalid_value",
        "audio",
    ),
    (
        "audio not a string",
        lambda s: configured(s, {"type": "input_audio_buffer.append", "audio": 123}),
        "invalid_value",
        "audio",
    ),
    (
        "20 MB append",
        lambda s: configured(s, {"type": "input_audio_buffer.append", "audio": BIG}),
        "event_too_large",  # refused before it is parsed, let alone decoded
        None,
    ),
    (
        "session not an object",
        lambda s: s.send_json({"type": "session.update", "session": "transcription"}),
        "invalid_value",
        "session",
    ),
    (
        "conversation session",
        lambda s: s.send_json({"type": "session.update", "session": {"type": "realtime"}}),
        "unsupported_session_type",
        "session.type",
    ),
    (
        "silence as a string",
        lambda s: s.send_json(
            update_with(turn_detection={"type": "server_vad", "silence_duration_ms": "500"})
        ),
        "invalid_value",
        "session.audio.input.turn_detection.silence_duration_ms",
    ),
    (
        "threshold out of range",
        lambda s: s.send_json(update_with(turn_detection={"type": "server_vad", "threshold": 2})),
        "invalid_value",
        "session.audio.input.turn_detection.threshold",
    ),
    (
        "language a number",
        lambda s: s.send_json(update_with(transcription={"language": 5})),
        "invalid_value",
        "session.audio.input.transcription.language",
    ),
    (
        "mu-law",
        lambda s: s.send_json(update_with(format={"type": "audio/pcmu"})),
        "unsupported_audio_format",
        "session.audio.input.format",
    ),
    (
        "unknown model",
        lambda s: s.send_json(update_with(transcription={"model": "no-such-model"})),
        "model_not_found",
        "session.audio.input.transcription.model",
    ),
    (
        "commit of nothing",
        lambda s: s.send_json({"type": "input_audio_buffer.commit"}),
        "input_audio_buffer_commit_empty",
        None,
    ),
]


@pytest.mark.parametrize(
    ("send", "code", "param"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_a_malformed_event_gets_an_error_and_the_session_goes_on(
    jfk_pcm: bytes, send: Callable[[WebSocketTestSession], None], code: str, param: str | None
) -> None:
    app, metrics = app_with_realtime()
    with TestClient(app) as client:
        with client.websocket_connect(URL) as bad, client.websocket_connect(URL) as good:
            assert receive(bad)["type"] == "session.created"
            assert receive(good)["type"] == "session.created"
            send(bad)
            error = receive(bad)
            assert error["type"] == "error"
            assert (error["error"]["code"], error["error"]["param"]) == (code, param)
            assert error["error"]["type"] == "invalid_request_error"
            assert error["error"]["message"]
            # The other session is unaffected, and this one still works.
            assert transcribe(good, jfk_pcm)[-1]["transcript"] == TEXT
            assert transcribe(bad, jfk_pcm)[-1]["transcript"] == TEXT
        assert metrics.open == 0


def test_the_client_event_id_comes_back_with_its_error() -> None:
    app, _ = app_with_realtime()
    with TestClient(app) as client, client.websocket_connect(URL) as socket:
        receive(socket)
        socket.send_json({"type": "conversation.item.create", "event_id": "evt_7"})
        assert receive(socket)["error"]["event_id"] == "evt_7"


def test_a_server_vad_session_in_openai_events(jfk_pcm: bytes) -> None:
    app, metrics = app_with_realtime()
    with TestClient(app) as client, client.websocket_connect(URL) as socket:
        created = receive(socket)
        assert created["session"]["type"] == "transcription"
        events = transcribe(socket, jfk_pcm)
    types = [e["type"] for e in events]
    item = events[-1]["item_id"]
    assert types[0] == "input_audio_buffer.speech_started"
    order = [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.created",
        "conversation.item.input_audio_transcription.completed",
    ]
    assert [t for t in types if t in order] == order
    assert all(e.get("item_id", item) == item for e in events[1:])
    deltas = "".join(e["delta"] for e in events if e["type"].endswith(".delta"))
    assert deltas == events[-1]["transcript"] == TEXT
    assert events[-1]["usage"]["type"] == "duration"
    assert 0 < events[-1]["usage"]["seconds"] < 11.5  # the first utterance's speech
    assert metrics.open == 0
    assert "final" in metrics.events  # the same stream metrics as /v1/listen


def test_manual_commits_and_clear(jfk_pcm: bytes) -> None:
    app, _ = app_with_realtime()
    with TestClient(app) as client, client.websocket_connect(URL) as socket:
        receive(socket)
        socket.send_json(update_with(turn_detection=None))
        updated = until(socket, "session.updated")[-1]
        assert updated["session"]["audio"]["input"]["turn_detection"] is None
        append(socket, jfk_pcm[: len(jfk_pcm) // 2])
        socket.send_json({"type": "input_audio_buffer.clear"})
        assert until(socket, "input_audio_buffer.cleared")
        append(socket, jfk_pcm)
        socket.send_json({"type": "input_audio_buffer.commit"})
        events = until(socket, "conversation.item.input_audio_transcription.completed")
        committed = [e for e in events if e["type"] == "input_audio_buffer.committed"]
        assert len(committed) == 1
        assert not [e for e in events if "speech_" in e["type"]]
        assert events[-1]["item_id"] == committed[0]["item_id"]
        # Every utterance the VAD found between the two commits, in one item.
        assert events[-1]["transcript"].startswith(TEXT)
        assert events[-1]["transcript"].replace(TEXT, "").strip() == ""
        # The cleared half made no item: the next event is the second commit's.
        append(socket, jfk_pcm)
        socket.send_json({"type": "input_audio_buffer.commit", "event_id": "c2"})
        second = until(socket, "conversation.item.input_audio_transcription.completed")
        commits = [e for e in second if e["type"] == "input_audio_buffer.committed"]
        assert len(commits) == 1
        assert commits[0]["previous_item_id"] == committed[0]["item_id"]
        assert {e.get("item_id") or e["item"]["id"] for e in second} == {commits[0]["item_id"]}


def test_a_bearer_key_or_the_browser_subprotocol_authenticates() -> None:
    def authenticate(token: str | None) -> str:
        if token != "sk-good":
            raise UnauthorizedError("invalid API key")
        return "alice"

    app, _ = app_with_realtime(authenticate=authenticate)
    with TestClient(app) as client:
        headers = {"Authorization": "Bearer sk-good"}
        with client.websocket_connect(URL, headers=headers) as socket:
            assert receive(socket)["type"] == "session.created"
        protocols = ["realtime", "openai-insecure-api-key.sk-good"]
        with client.websocket_connect(URL, subprotocols=protocols) as socket:
            assert str(socket.accepted_subprotocol) == "realtime"
            assert receive(socket)["type"] == "session.created"
        with client.websocket_connect(URL, headers={"Authorization": "Bearer sk-bad"}) as socket:
            error = receive(socket)
            assert error["error"]["code"] == "invalid_api_key"
            assert socket.receive()["code"] == 4401


def test_a_stream_over_the_cap_is_refused(jfk_pcm: bytes) -> None:
    app, _ = app_with_realtime(max_streams=1)
    with TestClient(app) as client, client.websocket_connect(URL) as first:
        receive(first)
        with client.websocket_connect(URL) as second:
            assert receive(second)["error"]["code"] == "rate_limit_exceeded"
            assert second.receive()["code"] == 4429


def test_the_append_limit_is_openais() -> None:
    assert MAX_APPEND_BYTES == 15 * 1024 * 1024


def test_an_append_over_the_limit_is_refused_before_decoding() -> None:
    audio = "A" * (MAX_APPEND_BYTES // 3 * 4 + 8)
    error = decode_append({"type": "input_audio_buffer.append", "audio": audio, "event_id": "e1"})
    assert isinstance(error, RealtimeError)
    assert (error.code, error.param, error.event_id) == ("audio_too_large", "audio", "e1")
