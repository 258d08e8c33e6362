"""A long file sent to ``/v1/audio/transcriptions`` while a live stream runs, on a real
``echoic serve`` (tiny.en): the file's chunk calls take compute slots after the live decodes, so
no live final waits for more than one chunk call.

A dev session is streamed through ``/v1/listen`` at real-time pace, twice: alone, then with the
3.9-minute long-form reading POSTed back to back for the whole stream. The server's own logs
give each final's decode wait (``queue_ms`` of its latency record) and each file's longest chunk
call (its ``background decode`` line); finals' latencies are scored as ``echoic bench stream``
scores them. Run with ``-s`` to see the figures (the README's table comes from such runs).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from echoic.audio import decode_audio
from echoic.bench.stream import SessionFile
from echoic.bench.stream_clients import stream_listen
from echoic.bench.stream_metrics import SendTimes, spread
from echoic.bench.stream_server import listen_received, session_run
from echoic.types import SAMPLE_RATE
from tests.process_kit import ServerProcess, server_process

pytestmark = pytest.mark.slow

SESSION = "eval/dev/sessions/session_02.wav"  # 34 s, 7 utterances
LONGFORM = "eval/dev/longform/ljspeech_LJ001_chapter.wav"  # 233 s
CHUNK_MS = 20
#: What a final may wait beyond one chunk call: the event loop's turn to hand the slot over
#: (the server's loop also reads the upload and the stream's frames meanwhile).
MARGIN_S = 0.15


@dataclass(frozen=True)
class LiveRun:
    """One session streamed through a server, with or without long files beside it."""

    #: Each final's decode wait: its latency record's ``queue_ms``, in seconds.
    final_waits_s: tuple[float, ...]
    #: Each final's decode, from its request to its result (``queue_ms`` + ``stt_ms``).
    final_decode_s: tuple[float, ...]
    #: Each matched utterance's final latency (arrival − the end of its speech), seconds.
    final_latency_s: tuple[float, ...]
    #: The wall seconds of each REST file transcribed meanwhile.
    files_s: tuple[float, ...]
    #: The server's ``background decode`` line of each.
    decodes: tuple[dict[str, Any], ...]
    wer: float

    @property
    def longest_call_s(self) -> float:
        return max((line["longest_call_s"] for line in self.decodes), default=0.0)

    def figures(self) -> dict[str, Any]:
        waits = spread(self.final_waits_s).to_dict()
        decode = spread(self.final_decode_s).to_dict()
        latency = spread(self.final_latency_s).to_dict()
        calls = sum(line["calls"] for line in self.decodes)
        held = sum(line["held_s"] for line in self.decodes)
        return {
            "finals": waits["n"],
            "final_wait_p50_s": waits["p50"],
            "final_wait_max_s": waits["max"],
            "final_decode_p50_s": decode["p50"],
            "final_decode_max_s": decode["max"],
            "final_latency_p50_s": latency["p50"],
            "final_latency_p95_s": latency["p95"],
            "final_latency_max_s": latency["max"],
            "rest_files": len(self.files_s),
            "rest_file_s": [round(s, 2) for s in self.files_s],
            "chunk_calls": calls,
            "chunk_call_mean_s": round(held / calls, 3) if calls else None,
            "chunk_call_max_s": self.longest_call_s if calls else None,
            "wer": round(self.wer, 4),
        }


async def live_run(server: ServerProcess, session: SessionFile, longform: bytes | None) -> LiveRun:
    """Stream ``session`` in real time; with ``longform``, POST it back to back meanwhile."""
    logged = len(server.log_lines())
    audio = decode_audio(session.audio)
    streaming = asyncio.Event()
    timings: list[float] = []

    async def files(body: bytes) -> None:
        async with httpx.AsyncClient(base_url=server.api, timeout=600) as client:
            while not streaming.is_set():
                started = time.monotonic()
                response = await client.post(
                    "/audio/transcriptions",
                    files={"file": ("longform.wav", body, "audio/wav")},
                    data={"model": "tiny.en", "response_format": "json"},
                )
                assert response.status_code == 200, response.text
                assert len(response.json()["text"].split()) > 500
                timings.append(time.monotonic() - started)

    rest = None if longform is None else asyncio.create_task(files(longform))
    arrivals, sent = await stream_listen(server.ws, audio, CHUNK_MS, 60)
    streaming.set()
    if rest is not None:
        await rest  # the file in flight finishes
    t0 = sent[0]
    send = SendTimes(chunk_s=CHUNK_MS / 1000, chunk_sent_s=tuple(s - t0 for s in sent))
    run = session_run(session, len(audio) / SAMPLE_RATE, listen_received(arrivals, t0), send)
    lines = server.log_lines()[logged:]
    records = [
        record
        for line in lines
        if line.get("logger") == "echoic.latency"
        and (record := json.loads(line["message"]))["state"] == "done"
    ]
    decodes = [line for line in lines if line.get("message") == "background decode"]
    return LiveRun(
        final_waits_s=tuple(r["queue_ms"] / 1000 for r in records),
        final_decode_s=tuple((r["queue_ms"] + r["stt_ms"]) / 1000 for r in records),
        final_latency_s=tuple(u.final_s for u in run.utterances if u.final_s is not None),
        files_s=tuple(timings),
        decodes=tuple(decodes),
        wer=run.counts.wer,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("server")
    with server_process(
        ["serve", "--model", "tiny.en", "--workers", "0"],
        data_dir,
        env={"ECHOIC_RATE_LIMIT": "", "ECHOIC_LOG_LEVEL": "info"},
    ) as running:
        yield running


def test_a_long_rest_file_delays_no_live_final_by_more_than_one_chunk_call(
    server: ServerProcess, shared_dir: Path
) -> None:
    session = SessionFile.load(shared_dir / SESSION)
    longform = (shared_dir / LONGFORM).read_bytes()

    async def both() -> tuple[LiveRun, LiveRun]:
        alone = await live_run(server, session, None)
        beside = await live_run(server, session, longform)
        return alone, beside

    alone, beside = asyncio.run(both())
    print(json.dumps({"alone": alone.figures(), "with_rest": beside.figures()}, indent=1))

    assert not alone.files_s
    assert len(beside.files_s) >= 2  # the stream ran beside the files from start to end
    assert len(beside.decodes) == len(beside.files_s)  # each file's calls took slots
    assert len(beside.final_waits_s) >= 5
    bound = beside.longest_call_s + MARGIN_S
    assert max(beside.final_waits_s) <= bound, (beside.final_waits_s, beside.longest_call_s)
    # The file did hold the cores: its calls were long enough for the bound to mean something.
    assert beside.longest_call_s > 0.1
    assert beside.wer < 0.2
    assert statistics.median(beside.final_latency_s) < 2.0
