"""The WebSocket clients of ``echoic bench stream-server``: one session through ``/v1/listen``
(echoic's protocol: ``start``, 16 kHz s16 binary frames, ``stop``) or ``/v1/realtime`` (OpenAI's
Realtime transcription protocol: ``session.update``, base64 24 kHz ``input_audio_buffer.append``,
server VAD), paced by the wall clock; every message is recorded with its arrival time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import av
import numpy as np
import websockets

from echoic.bench.rest import ServerUnavailableError
from echoic.types import SAMPLE_RATE, Audio

REALTIME_RATE = 24_000
RT_PREFIX = "conversation.item.input_audio_transcription."

#: (arrival on the monotonic clock, the decoded JSON message)
Arrival = tuple[float, dict[str, Any]]


def realtime_settled(messages: Sequence[dict[str, Any]]) -> bool:
    """Every item whose speech started (or was committed) has completed or failed."""
    opened = {
        m.get("item_id")
        for m in messages
        if m.get("type") in ("input_audio_buffer.speech_started", "input_audio_buffer.committed")
    }
    done = {
        m.get("item_id")
        for m in messages
        if m.get("type") in (RT_PREFIX + "completed", RT_PREFIX + "failed")
    }
    return opened <= done


def realtime_open_item(messages: Sequence[dict[str, Any]]) -> bool:
    """An item's speech started and nothing committed it yet (server VAD still listening)."""
    started = {
        m.get("item_id") for m in messages if m.get("type") == "input_audio_buffer.speech_started"
    }
    committed = {
        m.get("item_id") for m in messages if m.get("type") == "input_audio_buffer.committed"
    }
    return bool(started - committed)


def pcm16(audio: Audio) -> bytes:
    return bytes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())


def resample(audio: Audio, rate: int) -> Audio:
    """16 kHz mono float32 → ``rate``, through FFmpeg's swresample (as ``echoic.audio`` does)."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    frame = av.AudioFrame.from_ndarray(audio.reshape(1, -1), format="flt", layout="mono")
    frame.sample_rate = SAMPLE_RATE
    frames = [*resampler.resample(frame), *resampler.resample(None)]
    if not frames:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.float32)


async def _paced(
    pcm: bytes, rate: int, chunk_ms: int, send: Callable[[bytes], Any], sent: list[float]
) -> None:
    """Send ``pcm`` (s16) in ``chunk_ms`` chunks by the wall clock; ``sent``: when each left."""
    size = rate * chunk_ms // 1000 * 2
    started = time.monotonic()
    for index, offset in enumerate(range(0, len(pcm), size)):
        delay = started + index * chunk_ms / 1000 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        sent.append(time.monotonic())
        await send(pcm[offset : offset + size])


async def _receive(socket: Any, arrivals: list[Arrival]) -> None:
    async for message in socket:
        if isinstance(message, str):
            arrivals.append((time.monotonic(), json.loads(message)))


async def _until_answered(
    receiver: asyncio.Task[None], arrivals: list[Arrival], answer: str, endpoint: str
) -> None:
    """Wait for the server's ``answer`` to the session's set-up (audio goes after it)."""
    deadline = time.monotonic() + 30
    while not any(m.get("type") == answer for _, m in arrivals):
        refused = receiver.done() or any(m.get("type") == "error" for _, m in arrivals)
        if refused or time.monotonic() > deadline:
            said = [m for _, m in arrivals]
            raise ServerUnavailableError(f"{endpoint} did not answer {answer}: {said}")
        await asyncio.sleep(0.01)


async def stream_listen(
    ws_url: str,
    audio: Audio,
    chunk_ms: int,
    settle_s: float,
    *,
    start: Mapping[str, Any] | None = None,
) -> tuple[list[Arrival], list[float]]:
    """``audio`` through ``/v1/listen`` in real time; ``start``: more fields of the ``start``
    message (``{"diarization": True}``)."""
    arrivals: list[Arrival] = []
    sent: list[float] = []
    pcm = pcm16(audio)
    async with websockets.connect(f"{ws_url}/v1/listen", max_size=None) as socket:
        receiver = asyncio.create_task(_receive(socket, arrivals))
        await socket.send(
            json.dumps({"type": "start", "sample_rate": SAMPLE_RATE, **(start or {})})
        )
        await _until_answered(receiver, arrivals, "ready", "/v1/listen")
        await _paced(pcm, SAMPLE_RATE, chunk_ms, socket.send, sent)
        await socket.send(json.dumps({"type": "stop"}))
        deadline = time.monotonic() + settle_s
        while not receiver.done() and time.monotonic() < deadline:
            if any(m.get("type") == "end" for _, m in arrivals):
                break
            await asyncio.sleep(0.02)
        receiver.cancel()
    return arrivals, sent


async def stream_realtime(
    ws_url: str, audio: Audio, chunk_ms: int, settle_s: float
) -> tuple[list[Arrival], list[float]]:
    arrivals: list[Arrival] = []
    sent: list[float] = []
    session = {
        "type": "transcription",
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": REALTIME_RATE},
                "transcription": {"model": "whisper-1", "language": "en"},
                "turn_detection": {"type": "server_vad"},
            }
        },
    }
    url = f"{ws_url}/v1/realtime?intent=transcription"
    pcm = pcm16(resample(audio, REALTIME_RATE))
    async with websockets.connect(url, max_size=None) as socket:
        receiver = asyncio.create_task(_receive(socket, arrivals))
        await socket.send(json.dumps({"type": "session.update", "session": session}))
        await _until_answered(receiver, arrivals, "session.updated", "/v1/realtime")

        async def append(chunk: bytes) -> None:
            audio_b64 = base64.b64encode(chunk).decode()
            await socket.send(json.dumps({"type": "input_audio_buffer.append", "audio": audio_b64}))

        await _paced(pcm, REALTIME_RATE, chunk_ms, append, sent)
        if realtime_open_item([m for _, m in arrivals]):
            await socket.send(json.dumps({"type": "input_audio_buffer.commit"}))
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline and not receiver.done():
            messages = [m for _, m in arrivals]
            quiet = not arrivals or time.monotonic() - arrivals[-1][0] > 1.0
            if quiet and realtime_settled(messages):
                break
            await asyncio.sleep(0.05)
        receiver.cancel()
    return arrivals, sent
