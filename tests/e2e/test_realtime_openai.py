"""``/v1/realtime`` with the official ``openai`` SDK's realtime client against ``echoic serve``.

A dev session streams at real-time pace in 24 kHz pcm16 base64 chunks, as an OpenAI client
sends it; its transcripts are scored against the reference and against ``/v1/listen`` on the
same file.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import websockets
from openai import AsyncOpenAI
from openai.types.realtime import RealtimeTranscriptionSessionCreateRequestParam

from echoic.audio import decode_audio
from echoic.bench.text import count_errors
from echoic.types import Audio
from tests.process_kit import ServerProcess, server_process

pytestmark = pytest.mark.slow

SESSION = "eval/dev/sessions/session_02.wav"
CHUNK_MS = 40
RATE = 24_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with server_process(["serve", "--model", "tiny.en"], tmp_path_factory.mktemp("rt")) as proc:
        yield proc


@pytest.fixture(scope="module")
def session(shared_dir: Path) -> tuple[Audio, dict[str, Any]]:
    path = shared_dir / SESSION
    return decode_audio(path), json.loads(path.with_suffix(".json").read_text())


def pcm24(audio: Audio) -> bytes:
    """16 kHz float32 → 24 kHz pcm16 little-endian, what OpenAI's ``audio/pcm`` is."""
    times = np.arange(round(len(audio) * RATE / 16_000)) * (16_000 / RATE)
    upsampled = np.interp(times, np.arange(len(audio)), audio)
    return bytes((np.clip(upsampled, -1, 1) * 32767).astype("<i2").tobytes())


async def paced(pcm: bytes, chunk_ms: int, rate: int, speed: float = 1.0) -> Any:
    """Chunks of ``pcm`` (s16) leaving at ``speed`` × real time."""
    size = rate * chunk_ms // 1000 * 2
    started = time.monotonic()
    for index, offset in enumerate(range(0, len(pcm), size)):
        delay = started + index * chunk_ms / 1000 / speed - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        yield index * chunk_ms / 1000, pcm[offset : offset + size]


async def collect(connection: Any, events: list[Any], done: asyncio.Event) -> None:
    """Every server event until ``done`` is set and the items committed are all transcribed."""
    while True:
        try:
            event = await asyncio.wait_for(connection.recv(), 3.0)
        except TimeoutError:
            if done.is_set() and _settled(events):
                return
            continue
        events.append(event)


def _settled(events: list[Any]) -> bool:
    committed = {e.item_id for e in events if e.type == "input_audio_buffer.committed"}
    finished = {
        e.item_id
        for e in events
        if e.type
        in (
            "conversation.item.input_audio_transcription.completed",
            "conversation.item.input_audio_transcription.failed",
        )
    }
    return committed <= finished


async def realtime_run(
    server: ServerProcess, pcm: bytes, turn_detection: Any, commits_s: list[float] | None = None
) -> list[Any]:
    client = AsyncOpenAI(base_url=server.api, api_key="unused-on-loopback")
    events: list[Any] = []
    done = asyncio.Event()
    async with client.realtime.connect(extra_query={"intent": "transcription"}) as connection:
        first = await connection.recv()
        assert first.type == "session.created"
        config: RealtimeTranscriptionSessionCreateRequestParam = {
            "type": "transcription",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
                    "turn_detection": turn_detection,
                    "noise_reduction": {"type": "near_field"},
                }
            },
        }
        await connection.session.update(session=config)
        receiver = asyncio.create_task(collect(connection, events, done))
        pending = list(commits_s or [])
        async for at_s, chunk in paced(pcm, CHUNK_MS, RATE):
            while pending and at_s >= pending[0]:
                pending.pop(0)
                await connection.input_audio_buffer.commit()
            await connection.input_audio_buffer.append(audio=base64.b64encode(chunk).decode())
        if commits_s is not None:
            await connection.input_audio_buffer.commit()
        done.set()
        await asyncio.wait_for(receiver, 120)
    return events


async def listen_run(server: ServerProcess, audio: Audio) -> list[dict[str, Any]]:
    pcm = bytes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    events: list[dict[str, Any]] = []
    async with websockets.connect(f"{server.ws}/v1/listen") as socket:
        await socket.send(json.dumps({"type": "start", "sample_rate": 16_000}))

        async def receive() -> None:
            async for message in socket:
                events.append(json.loads(message))

        receiver = asyncio.create_task(receive())
        async for _, chunk in paced(pcm, CHUNK_MS, 16_000):
            await socket.send(chunk)
        await socket.send(json.dumps({"type": "stop"}))
        await asyncio.wait_for(receiver, 120)
    return events


def of_type(events: list[Any], kind: str) -> list[Any]:
    return [e for e in events if e.type == kind]


def test_server_vad_session_matches_listen(
    server: ServerProcess, session: tuple[Audio, dict[str, Any]]
) -> None:
    audio, info = session
    events = asyncio.run(realtime_run(server, pcm24(audio), {"type": "server_vad"}))
    updated = of_type(events, "session.updated")
    assert len(updated) == 1
    effective = updated[0].session.audio.input
    assert effective.format.rate == RATE
    assert effective.transcription.model == "tiny.en"  # what runs, not what was asked for
    assert effective.turn_detection.silence_duration_ms == 450

    started = of_type(events, "input_audio_buffer.speech_started")
    stopped = of_type(events, "input_audio_buffer.speech_stopped")
    committed = of_type(events, "input_audio_buffer.committed")
    created = of_type(events, "conversation.item.created")
    completed = of_type(events, "conversation.item.input_audio_transcription.completed")
    deltas = of_type(events, "conversation.item.input_audio_transcription.delta")
    assert len(info["segments"]) - 2 <= len(completed) <= len(info["segments"]) + 2
    items = [e.item_id for e in started]
    assert [e.item_id for e in stopped] == items
    assert [e.item_id for e in committed] == items
    assert [e.item.id for e in created] == items
    assert sorted(e.item_id for e in completed) == sorted(items)  # one per utterance
    assert [e.previous_item_id for e in committed] == [None, *items[:-1]]
    assert all(s.audio_end_ms > b.audio_start_ms for b, s in zip(started, stopped, strict=True))
    assert all(e.usage.type == "duration" and e.usage.seconds > 0 for e in completed)
    assert any(d.delta for d in deltas)

    # The delta invariant: each item's deltas join to its completed transcript (or the
    # completed event says they diverged, and its transcript is authoritative).
    joined = dict.fromkeys(items, "")
    for delta in deltas:
        joined[delta.item_id] += delta.delta or ""
    diverged = [
        e for e in completed if (e.model_extra or {}).get("echoic", {}).get("deltas_diverged")
    ]
    matching = [e for e in completed if joined[e.item_id] == e.transcript]
    assert len(matching) + len(diverged) == len(completed)
    print(f"\ndelta invariant: {len(matching)}/{len(completed)} items exact")
    for event in diverged:
        print(f"  diverged: sent {joined[event.item_id]!r}, final {event.transcript!r}")
    assert len(matching) >= len(completed) - 1

    hypothesis = " ".join(e.transcript for e in completed)
    realtime_wer = count_errors(info["text"], hypothesis).wer
    listen = asyncio.run(listen_run(server, audio))
    listen_text = " ".join(e["text"] for e in listen if e["type"] == "final")
    listen_wer = count_errors(info["text"], listen_text).wer
    print(f"WER /v1/realtime {realtime_wer:.3%}, /v1/listen {listen_wer:.3%}")
    assert realtime_wer < 0.12
    assert abs(realtime_wer - listen_wer) <= 0.01


def test_manual_commits_make_one_item_each(
    server: ServerProcess, session: tuple[Audio, dict[str, Any]]
) -> None:
    audio, info = session
    segments = info["segments"]
    # Commit in each gap between two sentences, and once at the end.
    commits = [(a["end_s"] + b["start_s"]) / 2 for a, b in itertools.pairwise(segments)]
    events = asyncio.run(realtime_run(server, pcm24(audio), None, commits))
    updated = of_type(events, "session.updated")
    assert updated[0].session.audio.input.turn_detection is None
    assert not of_type(events, "input_audio_buffer.speech_started")  # no server VAD events
    assert not of_type(events, "error")
    committed = of_type(events, "input_audio_buffer.committed")
    completed = of_type(events, "conversation.item.input_audio_transcription.completed")
    assert len(committed) == len(segments)
    assert [e.item_id for e in completed] == [e.item_id for e in committed]
    for segment, item in zip(segments, completed, strict=True):
        assert count_errors(segment["text"], item.transcript).errors <= 2, (segment, item)
    hypothesis = " ".join(e.transcript for e in completed)
    print(f"\nWER manual commits {count_errors(info['text'], hypothesis).wer:.3%}")
    assert count_errors(info["text"], hypothesis).wer < 0.12
