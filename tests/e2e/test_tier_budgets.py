"""Per-tier time budgets end to end (issue 13): a "local" echoic whose engine is slow hands a
live final to a real "cloud" echoic after the local tier's own short budget, and the cloud,
slower than that budget, is not cut short: it has a budget of its own.

The cloud is a real ``echoic serve`` on base (on the CPU, one thread per call: its decode of a
15.6 s utterance takes seconds, far more than the local budget, on any machine); the local
server is the real app with a scripted engine that takes 5 s per call
(``tests/scripted_server.py``). What crosses between them is real HTTP.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from websockets.sync.client import connect

from echoic.audio import decode_audio
from echoic.bench.text import count_errors
from tests import server_kit
from tests.process_kit import ServerProcess, server_process
from tests.speech import LS_367_130732_0005, LS_367_130732_0005_PATH

pytestmark = pytest.mark.slow

TRANSCRIBE = "/v1/audio/transcriptions"
LOCAL_BUDGET_S = 0.5
CLOUD_BUDGET_S = 30
LOCAL_DELAY_S = 5.0
#: What the front adds to the local budget and the cloud's own time: encoding the utterance as
#: WAV, loopback HTTP, the event loop.
MARGIN_S = 0.5
CHUNK_BYTES = 16_000  # 0.5 s of 16 kHz s16


def stream(server: ServerProcess, audio: np.ndarray) -> tuple[list[dict[str, Any]], float]:
    """Stream ``audio`` and 1.5 s of silence over ``/v1/listen`` at about 10× real time, then
    ``stop``; every event until ``end``, and how long after the audio of the speech end was
    sent the final arrived (client side)."""
    padded = np.concatenate([audio, np.zeros(24_000, dtype=np.float32)])
    pcm = (np.clip(padded, -1, 1) * 32767).astype("<i2").tobytes()
    sent_at: list[float] = []  # when each chunk went out
    events: list[dict[str, Any]] = []
    arrived_at: dict[int, float] = {}  # seq → when it came in
    # No drafts: they are local only, and each would keep the local engine (and the model's
    # decode queue) busy for the local budget in front of the final.
    start = {"type": "start", "language": "en", "interim_results": False}
    with connect(f"{server.ws}/v1/listen", open_timeout=10) as ws:
        ws.send(json.dumps(start))
        for offset in range(0, len(pcm), CHUNK_BYTES):
            ws.send(pcm[offset : offset + CHUNK_BYTES])
            sent_at.append(time.monotonic())
            time.sleep(0.05)
        ws.send(json.dumps({"type": "stop"}))
        while True:
            event = json.loads(ws.recv(timeout=60))
            arrived_at[event["seq"]] = time.monotonic()
            events.append(event)
            if event["type"] in ("end", "error") and event.get("utterance_id") is None:
                break
    (final,) = [e for e in events if e["type"] == "final"]
    speech_end_chunk = min(int(final["audio_end_s"] / 0.5), len(sent_at) - 1)
    return events, arrived_at[final["seq"]] - sent_at[speech_end_chunk]


def test_a_slow_local_final_hands_over_to_the_cloud_within_the_local_budget(
    shared_dir: Path, tmp_path: Path
) -> None:
    path = shared_dir / LS_367_130732_0005_PATH
    (tmp_path / "cloud").mkdir()
    (tmp_path / "local").mkdir()
    cloud_env = {"ECHOIC_DEVICE": "cpu", "ECHOIC_RATE_LIMIT": ""}
    local_env = {
        "ECHOIC_CLOUD_MODEL": "base",
        "ECHOIC_ROUTE_RETRIES": "0",
        "ECHOIC_RATE_LIMIT": "",
        "ECHOIC_ROUTE_TIMEOUT_S": f"local={LOCAL_BUDGET_S},cloud={CLOUD_BUDGET_S}",
        "ECHOIC_ROUTE_TIMEOUT_PER_AUDIO_S": "local=0",
    }
    with (
        server_process(["serve", "--model", "base"], tmp_path / "cloud", env=cloud_env) as cloud,
        server_process(
            ["--delay", str(LOCAL_DELAY_S), "--say", "the local engine, too late"],
            tmp_path / "local",
            env={**local_env, "ECHOIC_CLOUD_URL": cloud.api},
            module="tests.scripted_server",
        ) as local,
    ):
        events, client_latency_s = stream(local, decode_audio(path))

        (final,) = [e for e in events if e["type"] == "final"]
        assert final["source"] == "cloud"
        assert count_errors(LS_367_130732_0005, final["text"]).errors <= 5, final["text"]
        fallbacks = [e for e in events if e["type"] == "fallback"]
        assert [(e["from"], e["to"], e["reason"], e["detail"]) for e in fallbacks] == [
            ("local:cpu", "cloud", "timeout", f"local:cpu did not answer within {LOCAL_BUDGET_S} s")
        ]
        assert fallbacks[0]["utterance_id"] == final["utterance_id"]
        assert fallbacks[0]["seq"] < final["seq"]

        # The cloud's own time for the one request the final made: longer than the local
        # budget, and not cut short.
        (request,) = cloud.requests_to(TRANSCRIBE)
        assert request["status"] == 200
        cloud_s = request["duration_ms"] / 1000
        assert cloud_s > LOCAL_BUDGET_S
        # The final's decode on the local server: the local budget, then the cloud's decode.
        decode_s = final["latency"]["stt_ms"] / 1000
        assert LOCAL_BUDGET_S + cloud_s - 0.01 <= decode_s <= LOCAL_BUDGET_S + cloud_s + MARGIN_S
        # And as the client saw it, from when it sent the audio of the speech end.
        assert client_latency_s <= LOCAL_BUDGET_S + cloud_s + MARGIN_S
        print(
            f"\nlocal budget {LOCAL_BUDGET_S:.2f} s, cloud decode {cloud_s:.2f} s, "
            f"final decode {decode_s:.2f} s (speech end to final: server "
            f"{final['latency']['total_ms'] / 1000:.2f} s, client {client_latency_s:.2f} s)"
        )

        metrics = httpx.get(f"{local.url}/metrics", timeout=10).text
        labels = {"from": "local:cpu", "to": "cloud", "reason": "timeout"}
        assert server_kit.metric(metrics, "echoic_stt_fallbacks_total", labels) == 1
