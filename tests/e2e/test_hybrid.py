"""Hybrid routing end to end: a "local" echoic and a "cloud" echoic, two real server processes
on loopback ports (DESIGN.md §4, issue 6).

The cloud is a real ``echoic serve`` on tiny.en; the local server runs the real app with a
scripted engine that fails on cue (``tests/scripted_server.py``), or a real one where the test
is about not loading models. What crosses between them is real HTTP; what the tests assert is
what a client sees (transcripts, ``fallback`` events, headers, status codes), what the servers
export (``/metrics``, ``/ready``) and the cloud's own request log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from websockets.sync.client import connect

from echoic.audio import decode_audio
from echoic.bench.text import count_errors
from tests import server_kit
from tests.process_kit import ServerProcess, server_process, start_server
from tests.server_kit import tone_wav
from tests.speech import JFK, JFK_PATH

pytestmark = pytest.mark.slow

TRANSCRIBE = "/v1/audio/transcriptions"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with server_process(
        ["serve", "--model", "tiny.en"], tmp_path_factory.mktemp("cloud")
    ) as server:
        yield server


@pytest.fixture(scope="module")
def jfk_path(shared_dir: Path) -> Path:
    return shared_dir / JFK_PATH


def local_env(cloud: ServerProcess, **more: str) -> dict[str, str]:
    return {
        "ECHOIC_CLOUD_URL": cloud.api,
        "ECHOIC_CLOUD_MODEL": "tiny.en",
        "ECHOIC_ROUTE_RETRIES": "0",
        "ECHOIC_RATE_LIMIT": "",
        **more,
    }


def metric(server: ServerProcess, name: str, **labels: str) -> float:
    return server_kit.metric(httpx.get(f"{server.url}/metrics", timeout=10).text, name, labels)


def transcribe(server: ServerProcess, audio: bytes, **fields: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}{TRANSCRIBE}",
        files={"file": ("audio.wav", audio, "audio/wav")},
        data=fields,
        timeout=60,
    )


def stream_file(server: ServerProcess, path: Path, start: dict[str, Any]) -> list[dict[str, Any]]:
    """Stream ``path`` over the live WebSocket at about 10× real time; every event until
    ``end``."""
    audio = decode_audio(path)
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    chunk = 16_000  # bytes: 0.5 s of 16 kHz s16
    events: list[dict[str, Any]] = []
    with connect(f"{server.ws}/v1/listen", open_timeout=10) as ws:
        ws.send(json.dumps({"type": "start", **start}))
        for offset in range(0, len(pcm), chunk):
            ws.send(pcm[offset : offset + chunk])
            time.sleep(0.05)
        ws.send(json.dumps({"type": "stop"}))
        while True:
            event = json.loads(ws.recv(timeout=60))
            events.append(event)
            if event["type"] in ("end", "error") and event.get("utterance_id") is None:
                break
    return events


def close_to_jfk(text: str) -> bool:
    return count_errors(JFK, text).errors <= 2


def test_a_failing_local_engine_falls_back_to_the_cloud(
    cloud: ServerProcess, jfk_path: Path, tmp_path: Path
) -> None:
    cloud_calls = len(cloud.requests_to(TRANSCRIBE))
    with server_process(
        ["--fail", "-1"], tmp_path, env=local_env(cloud), module="tests.scripted_server"
    ) as local:
        with (
            openai.OpenAI(base_url=local.api, api_key="unused", max_retries=0) as client,
            jfk_path.open("rb") as fh,
        ):
            raw = client.audio.transcriptions.with_raw_response.create(
                model="tiny.en", file=fh, response_format="verbose_json"
            )
        assert raw.headers["x-echoic-source"] == "cloud"
        assert raw.headers["x-echoic-fallback"] == "local:cpu->cloud (error)"
        body = raw.parse()
        assert close_to_jfk(body.text)
        metadata = body.model_extra["metadata"] if body.model_extra else {}
        assert metadata["provider"] == "cloud"
        assert metadata["fallback"] == [
            {
                "from": "local:cpu",
                "to": "cloud",
                "reason": "error",
                "detail": "scripted local failure",
            }
        ]

        events = stream_file(local, jfk_path, {"language": "en"})
        finals = [e for e in events if e["type"] == "final"]
        fallbacks = [e for e in events if e["type"] == "fallback"]
        assert finals
        assert all(f["source"] == "cloud" for f in finals)
        # Utterance by utterance, without the context a whole-file decode has: a little looser.
        assert count_errors(JFK, " ".join(f["text"] for f in finals)).errors <= 4
        # Every final says which tiers it skipped, before it arrives.
        for final in finals:
            mine = [e for e in fallbacks if e["utterance_id"] == final["utterance_id"]]
            assert mine
            assert all(e["seq"] < final["seq"] for e in mine)
            assert {(e["from"], e["to"]) for e in mine} == {("local:cpu", "cloud")}
            assert {e["reason"] for e in mine} <= {"error", "circuit_open"}
        assert events[-1]["type"] == "end"

        assert metric(local, "echoic_stt_fallbacks_total", to="cloud") >= 1 + len(finals)
        assert metric(local, "echoic_stt_requests_total", source="cloud", status="200") == 1
        assert metric(local, "echoic_stt_requests_total", endpoint="stream", source="cloud") == (
            len(finals)
        )
        assert metric(local, "echoic_stream_final_latency_seconds_count", source="cloud") == (
            len(finals)
        )
        log = local.log_lines()
        assert any(line.get("message", "").startswith("fallback: local:cpu") for line in log)
        assert any(line.get("path") == TRANSCRIBE and line.get("source") == "cloud" for line in log)
    assert len(cloud.requests_to(TRANSCRIBE)) == cloud_calls + 1 + len(finals)


def test_the_breaker_opens_after_three_failures_and_closes_after_the_cool_down(
    cloud: ServerProcess, tmp_path: Path
) -> None:
    env = local_env(cloud, ECHOIC_BREAKER_COOLDOWN_S="2")
    audio = tone_wav(1.0)
    with server_process(
        ["--fail", "3", "--say", "local again"],
        tmp_path,
        env=env,
        module="tests.scripted_server",
    ) as local:
        reasons = [transcribe(local, audio).headers.get("x-echoic-fallback") for _ in range(4)]
        assert reasons == [
            "local:cpu->cloud (error)",
            "local:cpu->cloud (error)",
            "local:cpu->cloud (error)",
            "local:cpu->cloud (circuit_open)",
        ]
        (provider,) = httpx.get(f"{local.url}/ready").json()["providers"][:1]
        assert provider["name"] == "local:cpu"
        assert provider["state"] == "open"
        assert "3 consecutive failures" in provider["reason"]

        time.sleep(2.1)  # the cool-down: the next call is the probe, and the engine is fine now
        probe = transcribe(local, audio)
        assert probe.status_code == 200
        assert probe.headers["x-echoic-source"] == "local"
        assert "x-echoic-fallback" not in probe.headers
        assert probe.json()["text"] == "local again"
        assert httpx.get(f"{local.url}/ready").json()["providers"][0]["state"] == "closed"
        assert metric(local, "echoic_stt_fallbacks_total", reason="circuit_open") == 1
        assert metric(local, "echoic_stt_fallbacks_total", reason="error") == 3


def test_a_dead_cloud_gives_a_clear_error_and_the_server_stays_healthy(tmp_path: Path) -> None:
    audio = tone_wav(1.0)
    (tmp_path / "cloud").mkdir()
    (tmp_path / "local").mkdir()
    doomed = start_server(
        ["--say", "from the stand-in cloud"], tmp_path / "cloud", module="tests.scripted_server"
    )
    try:
        env = local_env(doomed, ECHOIC_CLOUD_TIMEOUT_S="5")
        with server_process(
            ["--fail", "-1"], tmp_path / "local", env=env, module="tests.scripted_server"
        ) as local:
            assert transcribe(local, audio).json()["text"] == "from the stand-in cloud"
            doomed.process.kill()
            doomed.process.wait()

            response = transcribe(local, audio)
            assert response.status_code == 503
            error = response.json()["error"]
            assert error["code"] == "provider_unavailable"
            assert "local:cpu: error (scripted local failure)" in error["message"]
            assert "cloud: error (cannot reach the remote provider" in error["message"]

            assert httpx.get(f"{local.url}/health").json() == {"status": "ok"}
            assert httpx.get(f"{local.api}/models").status_code == 200
            assert metric(local, "echoic_stt_errors_total", code="provider_unavailable") == 1
    finally:
        doomed.process.kill()
        doomed.process.wait()


def test_force_local_never_calls_the_cloud(cloud: ServerProcess, tmp_path: Path) -> None:
    audio = tone_wav(1.0)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    before = len(cloud.requests_to(TRANSCRIBE))
    # A request's override on a server in auto mode …
    with server_process(
        ["--fail", "-1"], tmp_path / "a", env=local_env(cloud), module="tests.scripted_server"
    ) as local:
        refused = transcribe(local, audio, stt_mode="force_local")
        assert refused.status_code == 500
        assert refused.json()["error"]["code"] == "engine_error"
    # … and a server in force_local mode.
    env = local_env(cloud, ECHOIC_STT_MODE="force_local")
    with server_process(
        ["--fail", "-1"], tmp_path / "b", env=env, module="tests.scripted_server"
    ) as local:
        assert transcribe(local, audio).status_code == 500
        asked = transcribe(local, audio, stt_mode="force_cloud")
        assert asked.status_code == 400
        assert asked.json()["error"]["param"] == "stt_mode"
        assert [p["name"] for p in httpx.get(f"{local.url}/ready").json()["providers"]] == [
            "local:cpu"
        ]
    assert len(cloud.requests_to(TRANSCRIBE)) == before


def test_force_cloud_never_loads_a_local_model(
    cloud: ServerProcess, jfk_path: Path, tmp_path: Path
) -> None:
    env = local_env(cloud, ECHOIC_STT_MODE="force_cloud")
    with server_process(["serve", "--model", "tiny.en"], tmp_path, env=env) as remote_only:
        ready = httpx.get(f"{remote_only.url}/ready").json()
        assert ready["models_loaded"] == []
        assert ready["self_test"] is None
        assert ready["mode"] == "force_cloud"
        assert [p["name"] for p in ready["providers"]] == ["cloud"]

        response = transcribe(remote_only, jfk_path.read_bytes())
        assert response.status_code == 200
        assert response.headers["x-echoic-source"] == "cloud"
        assert close_to_jfk(response.json()["text"])

        models = httpx.get(f"{remote_only.api}/models").json()["data"]
        assert not any(m["loaded"] for m in models)
        assert not any(
            "model loaded" in line.get("message", "") for line in remote_only.log_lines()
        )


def test_client_transcripts_are_used_and_late_ones_replaced_by_the_servers(
    jfk_path: Path, tmp_path: Path
) -> None:
    with server_process(
        ["--say", "the server heard this"],
        tmp_path,
        env={"ECHOIC_CLIENT_TRANSCRIPT_GRACE_S": "1"},
        module="tests.scripted_server",
    ) as local:
        jfk = decode_audio(jfk_path)
        audio = np.concatenate([jfk, np.zeros(16_000, dtype=np.float32), jfk])  # ≥ 2 utterances
        pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
        events: list[dict[str, Any]] = []
        with connect(f"{local.ws}/v1/listen", open_timeout=10) as ws:
            ws.send(json.dumps({"type": "start", "client_transcripts": True}))
            handed_in = False
            for offset in range(0, len(pcm), 16_000):
                ws.send(pcm[offset : offset + 16_000])
                time.sleep(0.05)
                while True:
                    try:
                        event = json.loads(ws.recv(timeout=0))
                    except TimeoutError:
                        break
                    events.append(event)
                    if event["type"] == "speech_started" and not handed_in:
                        # The client's own recognizer answers for the first utterance only.
                        ws.send(
                            json.dumps(
                                {
                                    "type": "transcript",
                                    "utterance_id": event["utterance_id"],
                                    "text": "and so my fellow americans",
                                    "source": "on-device",
                                }
                            )
                        )
                        handed_in = True
            ws.send(json.dumps({"type": "stop"}))
            while events[-1:] == [] or events[-1]["type"] != "end":
                events.append(json.loads(ws.recv(timeout=30)))
        ready = events[0]
        assert ready["type"] == "ready"
        assert ready["interim_results"] is False
        finals = [e for e in events if e["type"] == "final"]
        assert len(finals) >= 2
        first, *rest = finals
        assert first["source"] == "client"
        assert first["text"] == "and so my fellow americans"
        assert first["model"] == "on-device"
        assert not [e for e in events if e["type"] == "partial"]  # no drafts: the client has them
        for final in rest:
            assert final["source"] == "local"
            assert final["text"] == "the server heard this"
        grace = [e for e in events if e["type"] == "fallback"]
        assert [(e["utterance_id"], e["from"], e["to"], e["reason"]) for e in grace] == [
            (f["utterance_id"], "client", "server", "grace_expired") for f in rest
        ]
        assert metric(local, "echoic_stream_decodes_total", kind="interim") == 0
        assert metric(local, "echoic_stream_decodes_total", kind="final") == len(rest)
        assert metric(local, "echoic_stream_decode_wait_seconds_count", kind="final") == len(rest)
        assert metric(local, "echoic_stream_decode_wait_seconds_count", kind="draft") == 0
        assert metric(local, "echoic_stt_requests_total", endpoint="stream", source="client") == 1
        assert metric(local, "echoic_stt_fallbacks_total", **{"from": "client"}) == len(rest)
