"""Operating the server: health, readiness, metrics, request ids and logs, and the WebSocket's
wiring through ``create_app`` (auth, stream caps, stream metrics)."""

from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from echoic.audio import decode_audio
from echoic.engines.base import Engine
from echoic.engines.scripted import ScriptedEngine, Step
from echoic.errors import EngineError
from echoic.logs import JsonFormatter
from echoic.storage.keys import MemoryKeyStore
from tests.server_kit import SAID, make_app, metric, serving, tone_wav, upload, wait_ready
from tests.speech import JFK_PATH


def test_health_is_up_before_ready(tmp_path: Path) -> None:
    slow = ScriptedEngine(steps=[Step(text="", delay_s=0.5), Step(text=SAID)])
    with TestClient(make_app(tmp_path, {"tiny.en": slow})) as client:
        health = client.get("/health")
        early = client.get("/ready")
        ready = wait_ready(client)
    assert health.json() == {"status": "ok"}
    assert early.status_code == 503
    assert early.json()["ready"] is False
    assert ready["ready"] is True
    assert ready["models_loaded"] == ["tiny.en"]
    assert ready["self_test"]["passed"] is True
    assert ready["self_test"]["seconds"] >= 0.5
    assert slow.calls[0].duration_s == pytest.approx(1.0)  # the self-test: 1 s of audio


def test_ready_loads_the_confirming_model_too(tmp_path: Path) -> None:
    engines: dict[str, Engine] = {"tiny.en": ScriptedEngine(), "base": ScriptedEngine()}
    with serving(make_app(tmp_path, engines, confirm_model="base")) as client:
        assert client.get("/ready").json()["models_loaded"] == ["tiny.en", "base"]


def test_not_ready_when_the_self_test_fails(tmp_path: Path) -> None:
    broken = ScriptedEngine(steps=[Step(error=EngineError("no such device"))])
    with TestClient(make_app(tmp_path, {"tiny.en": broken})) as client:
        deadline = time.monotonic() + 5
        while (body := client.get("/ready").json())["error"] is None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        response = client.get("/ready")
        health = client.get("/health")
    assert response.status_code == 503
    assert body["error"] == "no such device"
    assert body["ready"] is False
    assert health.status_code == 200


def test_not_ready_without_the_default_model(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path, {"base": ScriptedEngine()})) as client:
        time.sleep(0.05)
        body = client.get("/ready").json()
    assert body["ready"] is False
    assert "tiny.en" in body["error"]


def test_shutdown_closes_only_the_engines_it_created(tmp_path: Path) -> None:
    engine = ScriptedEngine()
    with serving(make_app(tmp_path, {"tiny.en": engine})):
        pass
    assert engine.closed is False  # passed in: the caller's to close


def test_metrics_change_with_requests(tmp_path: Path) -> None:
    with serving(make_app(tmp_path)) as client:
        before = client.get("/metrics")
        assert before.headers["content-type"].startswith("text/plain")
        ok = {"endpoint": "transcriptions", "source": "local", "status": "200"}
        bad = {"endpoint": "transcriptions", "source": "none", "status": "415"}
        latency = {"endpoint": "transcriptions", "model": "tiny.en"}
        upload(client, tone_wav())
        upload(client, tone_wav(), response_format="srt")
        upload(client, b"not audio at all" * 10)
        client.get("/v1/models")
        after = client.get("/metrics").text
    text = before.text
    assert (
        metric(after, "echoic_stt_requests_total", ok)
        == metric(text, "echoic_stt_requests_total", ok) + 2
    )
    assert (
        metric(after, "echoic_stt_requests_total", bad)
        == metric(text, "echoic_stt_requests_total", bad) + 1
    )
    assert metric(after, "echoic_stt_requests_total", {"endpoint": "models", "status": "200"}) == 1
    assert metric(after, "echoic_stt_errors_total", {"code": "not_audio"}) == 1
    assert metric(after, "echoic_stt_latency_seconds_count", latency) == 2
    assert metric(after, "echoic_stt_latency_seconds_sum", latency) > 0
    assert metric(after, "echoic_stt_latency_seconds_bucket", {**latency, "le": "+Inf"}) == 2
    assert metric(after, "echoic_queue_depth", {"queue": "rest:tiny.en"}) == 0
    for name in (
        "echoic_stt_fallbacks_total",
        "echoic_stream_first_partial_seconds",
        "echoic_stream_final_latency_seconds",
        "echoic_stream_decode_wait_seconds",
        "echoic_stream_frames_dropped_total",
        "echoic_active_streams",
        "echoic_jobs_total",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in after, name


def test_each_app_has_its_own_metrics(tmp_path: Path) -> None:
    first, second = make_app(tmp_path), make_app(tmp_path)
    with serving(first) as client:
        upload(client, tone_wav())
    with serving(second) as client:
        text = client.get("/metrics").text
    ok = {"endpoint": "transcriptions", "status": "200"}
    assert metric(text, "echoic_stt_requests_total", ok) == 0


def test_request_ids(tmp_path: Path) -> None:
    with serving(make_app(tmp_path)) as client:
        given = client.get("/health", headers={"X-Request-ID": "trace-42"})
        made = client.get("/health")
        hostile = client.get("/health", headers={"X-Request-ID": "a b\x01" + "x" * 300})
        error = client.get("/v1/nothing", headers={"X-Request-ID": "trace-43"})
    assert given.headers["x-request-id"] == "trace-42"
    assert len(made.headers["x-request-id"]) == 32
    assert hostile.headers["x-request-id"] != "a b\x01" + "x" * 300
    assert error.headers["x-request-id"] == "trace-43"


def test_access_log_lines_are_json_with_the_request_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.INFO, logger="echoic.server.access"),
        serving(make_app(tmp_path)) as client,
    ):
        upload(client, tone_wav(), headers={"X-Request-ID": "trace-7"})
    [record] = [
        r
        for r in caplog.records
        if r.name == "echoic.server.access"
        and getattr(r, "path", None) == "/v1/audio/transcriptions"
    ]
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "request"
    assert line["request_id"] == "trace-7"
    assert line["method"] == "POST"
    assert line["status"] == 200
    assert line["duration_ms"] >= 0


def test_json_formatter() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("echoic.test.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("hello %s", "world", extra={"session_id": "s1", "utterance_id": 3})
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed", extra={"path": Path("/x")})
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "hello world"
    assert first["level"] == "warning"
    assert first["logger"] == "echoic.test.json"
    assert first["session_id"] == "s1"
    assert first["utterance_id"] == 3
    assert first["time"].endswith("Z")
    assert "ValueError: boom" in second["exc_info"]
    assert second["path"] == "/x"


# -- the WebSocket through create_app ----------------------------------------------------------


def _events_until_close(socket: Any) -> tuple[list[dict[str, Any]], int]:
    events: list[dict[str, Any]] = []
    while True:
        message = socket.receive()
        if message["type"] == "websocket.close":
            return events, int(message.get("code", 1000))
        events.append(json.loads(message["text"]))


def test_websocket_auth_caps_and_metrics(tmp_path: Path) -> None:
    store = MemoryKeyStore()
    _, token = store.create("mic")
    app = make_app(tmp_path, store=store, auth="required", max_streams_per_key=1)
    silence = (np.zeros(16000, "<i2")).tobytes()
    with serving(app) as client:
        with client.websocket_connect("/v1/listen") as socket:
            socket.send_json({"type": "start"})
            events, code = _events_until_close(socket)
        assert code == 4401
        assert events[-1]["code"] == "invalid_api_key"
        headers = {"Authorization": f"Bearer {token}"}
        with client.websocket_connect("/v1/listen", headers=headers) as first:
            first.send_json({"type": "start"})
            assert first.receive_json()["type"] == "ready"
            assert metric(client.get("/metrics").text, "echoic_active_streams") == 1
            with client.websocket_connect("/v1/listen", headers=headers) as second:
                second.send_json({"type": "start"})
                events, code = _events_until_close(second)
            assert code == 4429
            assert events[-1]["code"] == "rate_limit_exceeded"
            first.send_bytes(silence)
            first.send_json({"type": "stop"})
            events, code = _events_until_close(first)
        assert code == 1000
        assert events[-1]["type"] == "end"
        after = client.get("/metrics").text
    assert metric(after, "echoic_active_streams") == 0


def test_stream_metrics_from_a_live_session(tmp_path: Path, shared_dir: Path) -> None:
    audio = decode_audio(shared_dir / JFK_PATH)
    padded = np.concatenate([np.zeros(8000, np.float32), audio, np.zeros(16000, np.float32)])
    pcm = (padded * 32767).astype("<i2").tobytes()
    with serving(make_app(tmp_path)) as client:
        with client.websocket_connect("/v1/listen") as socket:
            socket.send_json({"type": "start", "sample_rate": 16000})
            for offset in range(0, len(pcm), 1280):
                socket.send_bytes(pcm[offset : offset + 1280])
            socket.send_json({"type": "stop"})
            events, code = _events_until_close(socket)
        text = client.get("/metrics").text
    assert code == 1000
    finals = [e for e in events if e["type"] == "final"]
    partials = {e["utterance_id"] for e in events if e["type"] == "partial"}
    assert finals
    stream = {"endpoint": "stream", "source": "local", "status": "ok"}
    assert metric(text, "echoic_stt_requests_total", stream) == len(finals)
    assert metric(text, "echoic_stream_final_latency_seconds_count") == len(finals)
    assert metric(text, "echoic_stream_first_partial_seconds_count") == len(partials)
    assert (
        metric(text, "echoic_stream_frames_dropped_total") == events[-1]["usage"]["frames_dropped"]
    )
