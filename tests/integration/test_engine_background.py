"""A long file decoded in the background (as REST and jobs do) by the real tiny.en: each chunk
call holds one compute slot, a live final waits for one chunk call at most, the text is the
same as an ungated decode's, and a decode nobody waits for stops at its next chunk call."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from echoic.audio import decode_audio
from echoic.engines.faster_whisper import FasterWhisperEngine
from echoic.streaming.decoding import DecodeKind
from echoic.streaming.scheduler import PRIORITY, ComputeSlots
from echoic.types import SAMPLE_RATE, TranscribeOptions
from tests.stream_kit import run_async

pytestmark = pytest.mark.slow

LONGFORM = "eval/dev/longform/ljspeech_LJ001_chapter.wav"
OPTIONS = TranscribeOptions(temperature=0.0, language="en")


@pytest.fixture(scope="module")
def reading(shared_dir: Path) -> np.ndarray:
    audio = decode_audio(shared_dir / LONGFORM)
    return audio[: 100 * SAMPLE_RATE]  # four VAD chunks or more


def background_stats(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == "background decode"]


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "sequential"])
def test_a_background_decode_takes_a_slot_per_chunk_call_and_reads_the_same(
    tiny: FasterWhisperEngine,
    reading: np.ndarray,
    batched: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    options = replace(OPTIONS, batched=batched)
    slots = ComputeSlots(tiny.capabilities.parallel_calls)

    async def decode() -> tuple[str, int]:
        peak = 0

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, slots.busy)
                await asyncio.sleep(0.005)

        watcher = asyncio.create_task(watch())
        with slots.background():
            transcript = await tiny.transcribe(reading, options)
        watcher.cancel()
        return transcript.text, peak

    plain = tiny.transcribe_sync(reading, options)
    with caplog.at_level(logging.DEBUG, logger="echoic.engines.faster_whisper"):
        text, peak = run_async(decode(), timeout_s=120)

    assert text == plain.text
    assert 1 <= peak <= slots.capacity
    assert (slots.busy, slots.waiting) == (0, 0)
    [record] = background_stats(caplog)
    calls: int = record.__dict__["calls"]
    assert calls >= 8  # an encode and a generate per chunk or window, at least
    assert 0 < record.__dict__["longest_call_s"] < record.__dict__["held_s"]


def test_a_live_final_waits_for_one_chunk_call_at_most(
    tiny: FasterWhisperEngine, reading: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    slots = ComputeSlots(tiny.capabilities.parallel_calls)

    async def scenario() -> list[float]:
        with slots.background():
            decoding = asyncio.create_task(tiny.transcribe(reading, OPTIONS))
        waits: list[float] = []
        while not decoding.done():
            await asyncio.sleep(0.15)
            asked = time.perf_counter()
            async with slots.hold(lambda: PRIORITY[DecodeKind.FINAL]):
                waits.append(time.perf_counter() - asked)
                await asyncio.sleep(0.05)  # a short final decode
        await decoding
        return waits

    with caplog.at_level(logging.DEBUG, logger="echoic.engines.faster_whisper"):
        waits = run_async(scenario(), timeout_s=120)

    [record] = background_stats(caplog)
    longest: float = record.__dict__["longest_call_s"]
    assert len(waits) >= 5
    assert max(waits) <= longest + 0.05, (waits, longest)
    assert record.__dict__["waited_s"] > 0  # the finals did go first


def test_a_decode_nobody_waits_for_stops_at_its_next_chunk_call(
    tiny: FasterWhisperEngine, shared_dir: Path
) -> None:
    whole = decode_audio(shared_dir / LONGFORM)  # 233 s: ≈ 7 s of decoding on two cores
    slots = ComputeSlots(tiny.capabilities.parallel_calls)

    async def scenario() -> list[int]:
        with slots.background():
            decoding = asyncio.create_task(tiny.transcribe(whole, OPTIONS))
        await asyncio.sleep(1.0)  # into the file's chunk calls
        decoding.cancel()
        with pytest.raises(asyncio.CancelledError):
            await decoding
        busy = []
        deadline = time.perf_counter() + 3.0
        while time.perf_counter() < deadline:
            busy.append(slots.busy)
            await asyncio.sleep(0.01)
        return busy

    busy = run_async(scenario(), timeout_s=120)

    # What was mid-call finished and let go of its slot within the first second; nothing took
    # a slot after, though the rest of the file would have taken several seconds more.
    assert len(busy) > 200
    assert busy[-200:] == [0] * 200
    assert (slots.busy, slots.waiting) == (0, 0)
