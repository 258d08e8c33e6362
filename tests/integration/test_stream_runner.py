"""Live streams end to end in one event loop: the real runner, scheduler and session, a scripted
engine, synthetic audio in 20 ms frames.

Windows are Silero's 512 samples (32 ms); the VAD durations below are whole windows. Every
scenario runs under a time limit, so a deadlock fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np
import pytest

from echoic.clock import Clock, ManualClock
from echoic.engines.base import ProgressCallback
from echoic.engines.scripted import ScriptedEngine, Step
from echoic.errors import EngineError
from echoic.streaming.config import StreamConfig
from echoic.streaming.events import Event, EventType
from echoic.streaming.live import LiveStream
from echoic.streaming.runner import Control, Embed, RunnerConfig, StreamAborted
from echoic.streaming.scheduler import ModelScheduler
from echoic.types import SAMPLE_RATE, Audio, TranscribeOptions, Transcript
from echoic.vad import EnergyVad, SpeechDetector, VadConfig
from tests.stream_kit import RmsDetector, chunks, noise, run_async, samples, silence, speech

T = TypeVar("T")

VAD = VadConfig(
    min_speech_ms=96,
    silence_ms=256,
    speculative_silence_ms=128,
    tail_ms=64,
    pre_roll_ms=64,
    max_utterance_s=5.0,
)
STREAM = StreamConfig(vad=VAD, draft_min_ms=256, draft_interval_ms=128, buffer_s=6.0)
FINALS_ONLY = replace(STREAM, interim_results=False)
FRAME = samples(20)  # 320 samples per frame


def run(coroutine: Coroutine[Any, Any, T], timeout_s: float = 10.0) -> T:
    return run_async(coroutine, timeout_s=timeout_s)


class Client:
    """The far end of the stream: every event it was sent."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._arrived = asyncio.Event()

    async def __call__(self, event: Event) -> None:
        self.events.append(event)
        self._arrived.set()

    async def wait_for(self, type_: EventType) -> None:
        while not self.of(type_):
            self._arrived.clear()
            await self._arrived.wait()

    async def wait_for_more(self) -> None:
        """Until the next event arrives."""
        seen = len(self.events)
        while len(self.events) == seen:
            self._arrived.clear()
            await self._arrived.wait()

    def of(self, type_: EventType) -> list[dict[str, Any]]:
        return [dict(e.data) for e in self.events if e.type is type_]

    def types(self) -> list[str]:
        return [e.type.value for e in self.events]

    def check_envelope(self) -> None:
        assert [e.seq for e in self.events] == list(range(1, len(self.events) + 1))
        assert len({e.session_id for e in self.events}) == 1
        times = [e.t for e in self.events]
        assert times == sorted(times), "event times go backwards"


@dataclass
class RecordingEngine(ScriptedEngine):
    """A scripted engine that keeps the audio of each call, to check what the stream sent."""

    audio: list[Audio] = field(default_factory=list)

    async def transcribe(
        self,
        audio: Audio,
        options: TranscribeOptions,
        *,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        self.audio.append(audio)
        return await super().transcribe(audio, options, progress=progress)


def stream(
    scheduler: ModelScheduler,
    client: Client,
    *,
    config: StreamConfig = STREAM,
    runner_config: RunnerConfig | None = None,
    detector: SpeechDetector | None = None,
    clock: Clock | None = None,
    embed: Embed | None = None,
) -> LiveStream:
    return LiveStream(
        scheduler,
        client,
        detector=detector or RmsDetector(),
        config=config,
        runner_config=runner_config,
        session_id="live-1",
        model="scripted",
        clock=clock,
        embed=embed,
    )


def utterances(n: int, *, speech_ms: int = 320, silence_ms: int = 416) -> Audio:
    return np.concatenate([silence(160)] + [speech(speech_ms), silence(silence_ms)] * n)


def other_tasks() -> set[asyncio.Task[Any]]:
    return asyncio.all_tasks() - {asyncio.current_task()}


async def settle(live: LiveStream) -> None:
    """Until the runner has taken every queued frame (and handled what came of it)."""
    # The runner has no "queue drained" event to wait on; polling is fine in a test.
    while live.runner.queued_frames:  # noqa: ASYNC110
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.01)


def frame_ids(audio: Audio) -> list[tuple[int, int]]:
    """``(frame index, samples)`` runs of audio made by :func:`numbered_frames`."""
    ids = np.where(audio >= 0.25, np.round((audio - 0.5) / 1e-5), np.round(audio / 1e-6))
    runs: list[tuple[int, int]] = []
    for value in ids.astype(int).tolist():
        if runs and runs[-1][0] == value:
            runs[-1] = (value, runs[-1][1] + 1)
        else:
            runs.append((value, 1))
    return runs


def numbered_frames(pattern: Audio) -> list[Audio]:
    """Frames that say which they are: frame k is constant, 0.5 + k·1e-5 if ``pattern`` is
    speech there, k·1e-6 (far below the detector's level) if silence."""
    frames = []
    for k, chunk in enumerate(chunks(pattern)):
        loud = float(np.sqrt(np.mean(np.square(chunk)))) > 0.01
        value = 0.5 + k * 1e-5 if loud else k * 1e-6
        frames.append(np.full(len(chunk), value, dtype=np.float32))
    return frames


# --- (a) a slow engine, a fast producer -----------------------------------------------------------


def test_frames_faster_than_the_engine_are_dropped_counted_and_warned_about() -> None:
    config = RunnerConfig(
        queue_frames=10, max_pending_finals=1, abort_after_s=60.0, warning_interval_s=0.25
    )

    async def scenario() -> tuple[Client, RecordingEngine, int, int, float, float]:
        engine = RecordingEngine(steps=[Step(text="slow words", delay_s=0.2)])
        scheduler = ModelScheduler(engine)
        scheduler.start()
        baseline = other_tasks()
        client = Client()
        dropped = 0
        started = time.monotonic()
        async with stream(scheduler, client, runner_config=config) as live:
            for frame in numbered_frames(utterances(4, speech_ms=400, silence_ms=400)):
                before = live.runner.queued_frames
                live.send(frame)  # never blocks
                dropped += before == config.queue_frames
                await asyncio.sleep(0.002)  # ≈ 7x real time
            sent = time.monotonic() - started
        received = live.runner.frames_received
        audio_s = live.session.audio_s
        await asyncio.sleep(0)
        assert other_tasks() == baseline
        await scheduler.aclose()
        return client, engine, dropped, received, audio_s, sent

    client, engine, dropped, received, audio_s, sent_s = run(scenario())

    assert dropped > 0
    [end] = client.of(EventType.END)
    assert end["usage"]["frames_dropped"] == dropped
    # Every frame received is in the session or counted as dropped: none lost, none twice.
    assert round(audio_s * SAMPLE_RATE) == (received - dropped) * FRAME
    warnings = client.of(EventType.WARNING)
    assert warnings
    assert {w["code"] for w in warnings} == {"audio_dropped"}
    assert len(warnings) <= 2 + sent_s / config.warning_interval_s
    assert not client.of(EventType.ERROR)
    finals = client.of(EventType.FINAL)
    assert len(finals) == len(client.of(EventType.SPEECH_STARTED)) >= 1
    assert {f["text"] for f in finals} == {"slow words"}
    client.check_envelope()
    # What the engine decoded is whole frames in stream order: drops only ever skip frames.
    for audio in engine.audio:
        runs = frame_ids(audio)
        ids = [k for k, _ in runs]
        assert ids == sorted(set(ids))
        assert all(n == FRAME for _, n in runs[1:-1])


def test_a_stream_that_stays_overloaded_is_aborted() -> None:
    config = RunnerConfig(
        queue_frames=10, max_pending_finals=1, abort_after_s=0.2, warning_interval_s=0.1
    )

    async def scenario() -> tuple[Client, float]:
        scheduler = ModelScheduler(ScriptedEngine.saying("slow", delay_s=0.5))
        scheduler.start()
        baseline = other_tasks()
        client = Client()

        async def produce() -> None:
            async with stream(scheduler, client, runner_config=config) as live:
                for frame in chunks(utterances(40)):  # 30 s of audio, if it ever got that far
                    live.send(frame)
                    await asyncio.sleep(0.002)

        started = time.monotonic()
        with pytest.raises(StreamAborted, match="cannot keep up"):
            await produce()
        took = time.monotonic() - started
        await asyncio.sleep(0)
        assert other_tasks() == baseline
        await scheduler.aclose()
        return client, took

    client, took = run(scenario())

    assert took < 3.0
    error = client.events[-1]
    assert error.type is EventType.ERROR
    assert (error.data["code"], error.data["retryable"]) == ("overloaded", True)
    assert "90%" in error.data["message"]
    assert client.of(EventType.END) == []
    assert {w["code"] for w in client.of(EventType.WARNING)} == {"audio_dropped"}
    client.check_envelope()


# --- (b) a producer that can wait -----------------------------------------------------------------


def test_send_paced_never_drops() -> None:
    config = RunnerConfig(queue_frames=8, max_pending_finals=1)
    audio = utterances(4)

    async def scenario() -> tuple[Client, RecordingEngine, float]:
        engine = RecordingEngine(steps=[Step(text="every word", delay_s=0.05)])
        scheduler = ModelScheduler(engine)
        client = Client()
        async with stream(scheduler, client, runner_config=config) as live:
            for frame in chunks(audio):
                await live.send_paced(frame)
                assert live.runner.queued_frames <= config.queue_frames // 2
        audio_s = live.session.audio_s
        await scheduler.aclose()
        return client, engine, audio_s

    client, engine, audio_s = run(scenario())

    assert audio_s == len(audio) / SAMPLE_RATE
    assert client.of(EventType.WARNING) == []
    assert client.of(EventType.END)[0]["usage"] == {
        "audio_s": audio_s,
        "utterances": 4,
        "frames_dropped": 0,
    }
    finals = client.of(EventType.FINAL)
    assert [f["utterance_id"] for f in finals] == [1, 2, 3, 4]
    for final in finals:  # the final decoded exactly the utterance's audio
        start = round(final["audio_start_s"] * SAMPLE_RATE)
        end = round(final["audio_end_s"] * SAMPLE_RATE)
        assert any(np.array_equal(a, audio[start:end]) for a in engine.audio)
    client.check_envelope()


# --- (c) a long stream ----------------------------------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def talk(scheduler: ModelScheduler, n: int) -> Client:
    """``n`` utterances over a quiet background, energy VAD, through one stream."""
    background = noise(384)
    one = np.concatenate([speech(256) + noise(256, seed=1), background])
    client = Client()
    async with stream(scheduler, client, detector=EnergyVad()) as live:
        for frame in chunks(np.concatenate([background, *[one] * n])):
            await live.send_paced(frame)
    return client


def test_a_hundred_utterances_leave_no_task_and_no_memory_behind() -> None:
    async def scenario() -> tuple[Client, int]:
        scheduler = ModelScheduler(ScriptedEngine.saying("word"))
        scheduler.start()
        baseline = other_tasks()
        await talk(scheduler, 10)  # warm-up: imports, caches, allocator pools
        gc.collect()
        before = rss_bytes()

        client = await talk(scheduler, 100)

        await asyncio.sleep(0)
        assert other_tasks() == baseline
        gc.collect()
        growth = rss_bytes() - before
        await scheduler.aclose()
        return client, growth

    client, growth = run(scenario(), timeout_s=30.0)

    finals = client.of(EventType.FINAL)
    assert [f["utterance_id"] for f in finals] == list(range(1, 101))
    assert {f["text"] for f in finals} == {"word"}
    assert client.of(EventType.END)[0]["usage"]["utterances"] == 100
    assert client.of(EventType.ERROR) == []
    assert growth < 20 * 2**20, f"RSS grew by {growth / 2**20:.1f} MB"
    client.check_envelope()


# --- (d) the client goes away ---------------------------------------------------------------------


def test_a_vanished_client_cancels_the_stream_promptly() -> None:
    async def scenario() -> tuple[Client, int, float]:
        engine = ScriptedEngine.saying("never shown", delay_s=1.0)
        scheduler = ModelScheduler(engine)
        scheduler.start()
        baseline = other_tasks()
        client = Client()
        live = stream(scheduler, client)
        seen = 0
        started = 0.0

        async def serve() -> None:
            nonlocal seen, started
            async with live:
                for frame in chunks(np.concatenate([silence(160), speech(640)])):
                    live.send(frame)
                    await asyncio.sleep(0.002)
                await settle(live)
                assert len(engine.calls) == 1  # a draft is being decoded
                seen = len(client.events)
                started = time.monotonic()
                raise ConnectionResetError("the socket is gone")

        with pytest.raises(ConnectionResetError):
            await serve()
        took = time.monotonic() - started
        assert live.done
        await asyncio.sleep(0.05)
        assert other_tasks() == baseline  # the runner and its decode tasks are gone
        assert scheduler.depth == 0
        await scheduler.aclose()
        return client, seen, took

    client, seen, took = run(scenario())

    assert took < 0.5  # not waiting for the 1 s decode
    assert len(client.events) == seen
    assert client.types() == ["speech_started"]


def test_cancel_control_ends_the_stream_without_end() -> None:
    async def scenario() -> Client:
        scheduler = ModelScheduler(ScriptedEngine.saying("x", delay_s=1.0))
        client = Client()
        async with stream(scheduler, client) as live:
            for frame in chunks(np.concatenate([silence(160), speech(640)])):
                live.send(frame)
            await settle(live)
            live.control(Control.CANCEL)
            await asyncio.sleep(0.01)
            assert live.done
        await scheduler.aclose()
        return client

    client = run(scenario())

    assert client.types() == ["speech_started"]


# --- (e) engine failures --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "runner_config", "code"),
    [
        (Step(error=EngineError("the GPU fell off the bus")), RunnerConfig(), "engine_error"),
        (Step(text="late", delay_s=0.5), RunnerConfig(final_timeout_s=0.1), "engine_timeout"),
    ],
    ids=["engine-error", "timeout"],
)
def test_a_failed_final_is_an_error_and_the_stream_serves_the_next_utterance(
    first: Step, runner_config: RunnerConfig, code: str
) -> None:
    async def scenario() -> Client:
        engine = ScriptedEngine(steps=[first, Step(text="second utterance")])
        scheduler = ModelScheduler(engine)
        client = Client()
        async with stream(
            scheduler, client, config=FINALS_ONLY, runner_config=runner_config
        ) as live:
            for frame in chunks(utterances(1)):
                await live.send_paced(frame)
            await client.wait_for(EventType.ERROR)
            await asyncio.sleep(0.5)  # the timed-out decode has left the engine
            for frame in chunks(utterances(1)):
                await live.send_paced(frame)
        await scheduler.aclose()
        return client

    client = run(scenario())

    [error] = client.of(EventType.ERROR)
    assert (error["code"], error["utterance_id"], error["retryable"]) == (code, 1, True)
    assert [(f["utterance_id"], f["text"]) for f in client.of(EventType.FINAL)] == [
        (2, "second utterance")
    ]
    assert client.types()[-1] == "end"
    assert client.of(EventType.END)[0]["usage"]["utterances"] == 2
    client.check_envelope()


# --- (f) controls outrank audio -------------------------------------------------------------------


def test_finalize_is_handled_before_audio_queued_ahead_of_it() -> None:
    async def scenario() -> Client:
        scheduler = ModelScheduler(ScriptedEngine.saying("x"))
        client = Client()
        async with stream(scheduler, client, config=FINALS_ONLY) as live:
            for frame in chunks(np.concatenate([silence(160), speech(480)])):
                live.send(frame)
            await settle(live)  # 640 ms taken: utterance 1 is open
            for frame in chunks(speech(320)):
                live.send(frame)
            live.control(Control.FINALIZE)  # sent after those 320 ms, handled before them
            await settle(live)
            for frame in chunks(silence(640)):
                live.send(frame)
        await scheduler.aclose()
        return client

    client = run(scenario())

    speech_events = [
        (e.type.value, dict(e.data))
        for e in client.events
        if e.type in (EventType.SPEECH_STARTED, EventType.SPEECH_ENDED)
    ]
    assert speech_events == [
        ("speech_started", {"utterance_id": 1, "audio_start_s": 0.096}),
        ("speech_ended", {"utterance_id": 1, "audio_end_s": 0.64, "reason": "finalize"}),
        ("speech_started", {"utterance_id": 2, "audio_start_s": 0.64}),
        ("speech_ended", {"utterance_id": 2, "audio_end_s": 1.024, "reason": "silence"}),
    ]
    assert len(client.of(EventType.FINAL)) == 2


def test_audio_sent_before_stop_still_counts() -> None:
    async def scenario() -> Client:
        scheduler = ModelScheduler(ScriptedEngine.saying("the last words"))
        client = Client()
        async with stream(scheduler, client, config=FINALS_ONLY) as live:
            for frame in chunks(np.concatenate([silence(160), speech(480)])):
                live.send(frame)
            # leaving the block sends "stop" right behind the queued audio
        await scheduler.aclose()
        return client

    client = run(scenario())

    assert client.types() == ["speech_started", "speech_ended", "final", "end"]
    assert client.of(EventType.SPEECH_ENDED)[0]["reason"] == "stop"
    assert client.of(EventType.FINAL)[0]["text"] == "the last words"
    assert client.of(EventType.END)[0]["usage"]["audio_s"] == 0.64


def test_pause_and_resume_through_the_runner() -> None:
    async def scenario() -> tuple[Client, float]:
        scheduler = ModelScheduler(ScriptedEngine.saying("x"))
        client = Client()
        async with stream(scheduler, client, config=FINALS_ONLY) as live:
            for frame in chunks(np.concatenate([silence(160), speech(480)])):
                live.send(frame)
            await settle(live)
            live.control(Control.PAUSE)
            await settle(live)
            for frame in chunks(speech(1000)):  # ignored while paused
                live.send(frame)
            await settle(live)
            live.control(Control.RESUME)
            await settle(live)
            for frame in chunks(np.concatenate([speech(320), silence(640)])):
                live.send(frame)
        await scheduler.aclose()
        return client, live.session.audio_s

    client, audio_s = run(scenario())

    assert audio_s == pytest.approx(0.64 + 0.96)
    ended = client.of(EventType.SPEECH_ENDED)
    assert [(e["utterance_id"], e["reason"]) for e in ended] == [(1, "finalize"), (2, "silence")]
    started = client.of(EventType.SPEECH_STARTED)
    assert started[1]["audio_start_s"] >= ended[0]["audio_end_s"]
    assert len(client.of(EventType.FINAL)) == 2


# --- event times ----------------------------------------------------------------------------------


class StallingClient(Client):
    """A client on a slow link: each event takes 100 ms of the manual clock, and while
    ``stalled`` the runner waits on the send."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__()
        self.clock = clock
        self.flowing = asyncio.Event()
        self.flowing.set()

    async def __call__(self, event: Event) -> None:
        await super().__call__(event)
        self.clock.advance(0.1)
        await self.flowing.wait()


def test_event_times_never_go_backwards() -> None:
    """One pass of the runner handles a control, then a result, then queued audio: the audio's
    events must not be stamped with the time the pass began, before the events already sent."""
    config = RunnerConfig(queue_frames=10)

    async def scenario() -> Client:
        clock = ManualClock()
        scheduler = ModelScheduler(ScriptedEngine.saying("one"), clock=clock)
        client = StallingClient(clock)
        async with stream(
            scheduler, client, config=FINALS_ONLY, runner_config=config, clock=clock
        ) as live:
            for frame in chunks(np.concatenate([silence(160), speech(480)])):
                live.send(frame)
                await asyncio.sleep(0)
            await settle(live)
            client.flowing.clear()
            live.control(Control.FINALIZE)  # speech_ended: the runner waits on the client
            await asyncio.sleep(0.01)  # meanwhile the final is decoded
            for frame in chunks(speech(240)):  # 12 frames: 2 dropped
                live.send(frame)
            client.flowing.set()
            await settle(live)
        await scheduler.aclose()
        return client

    client = run(scenario())

    assert client.types() == [
        "speech_started",
        "speech_ended",
        "final",
        "speech_started",
        "warning",
        "speech_ended",
        "final",
        "end",
    ]
    client.check_envelope()
