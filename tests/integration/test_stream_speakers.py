"""Speaker labels on a live stream, through the real runner, scheduler and session: the voice
embedding runs beside the final decode, on its own threads, and labels the final."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
import pytest

from echoic.engines.base import ProgressCallback
from echoic.engines.scripted import ScriptedEngine
from echoic.streaming.events import EventType
from echoic.streaming.scheduler import ModelScheduler
from echoic.streaming.speakers import SpeakerEmbeddings
from echoic.types import Audio, TranscribeOptions, Transcript
from tests.integration.test_stream_runner import FINALS_ONLY, Client, run, stream
from tests.stream_kit import chunks, silence, speech
from tests.unit.test_online_speakers import utterance

DIARIZED = replace(FINALS_ONLY, diarization=True)
DELAY_S = 0.3  # each decode and each embedding: in parallel the final waits one, not two


@dataclass
class ToneVoices:
    """An embedder that tells voices by loudness: a loud tone is voice 0, a soft one voice 1."""

    delay_s: float = DELAY_S
    fail: bool = False
    calls: list[tuple[float, float, str]] = field(default_factory=list)  # start, end, thread

    def embed_speech(self, audio: Audio) -> npt.NDArray[np.float32] | None:
        started = time.monotonic()
        time.sleep(self.delay_s)
        self.calls.append((started, time.monotonic(), threading.current_thread().name))
        if self.fail:
            raise RuntimeError("the encoder fell over")
        peak = float(np.abs(audio).max())
        return utterance(0 if peak > 0.2 else 1, len(self.calls))


@dataclass
class TimedEngine(ScriptedEngine):
    spans: list[tuple[float, float]] = field(default_factory=list)

    async def transcribe(
        self,
        audio: Audio,
        options: TranscribeOptions,
        *,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        started = time.monotonic()
        try:
            return await super().transcribe(audio, options, progress=progress)
        finally:
            self.spans.append((started, time.monotonic()))


def voice(loud: bool) -> list[Audio]:
    """One utterance: loud or soft, then the silence that ends it."""
    return chunks(np.concatenate([speech(480, amplitude=0.3 if loud else 0.1), silence(416)]))


async def talk(
    embedder: ToneVoices, *loud: bool, decode_s: float = DELAY_S
) -> tuple[Client, TimedEngine]:
    engine = TimedEngine.saying(*(f"u{i}" for i in range(len(loud))), delay_s=decode_s)
    assert isinstance(engine, TimedEngine)
    scheduler = ModelScheduler(engine)
    speakers = SpeakerEmbeddings.of(embedder)
    client = Client()
    live = stream(scheduler, client, config=DIARIZED, embed=speakers.embed)
    async with live:
        await live.send_paced(silence(160))
        for n, each in enumerate(loud, start=1):
            for frame in voice(each):
                await live.send_paced(frame)
            while len(client.of(EventType.FINAL)) < n:  # one decode at a time: no queueing
                await client.wait_for_more()
    await scheduler.aclose()
    speakers.close()
    return client, engine


def test_finals_are_labelled_by_voice_and_the_embedding_runs_beside_the_decode() -> None:
    embedder = ToneVoices()
    client, engine = run(talk(embedder, True, False, True))

    finals = client.of(EventType.FINAL)
    assert [(f["text"], f["speaker"]) for f in finals] == [
        ("u0", "SPEAKER_00"),
        ("u1", "SPEAKER_01"),
        ("u2", "SPEAKER_00"),
    ]
    assert len(embedder.calls) == len(engine.spans) == 3
    for (e_start, e_end, thread), (d_start, d_end) in zip(
        embedder.calls, engine.spans, strict=True
    ):
        assert thread.startswith("echoic-speakers")
        # Overlapping, not one after the other: the final waited for one delay, not two.
        assert e_start < d_end
        assert d_start < e_end
        assert abs(e_start - d_start) < DELAY_S / 2
    for final in finals:  # about one delay after the end of speech; in series, two
        assert final["latency"]["total_ms"] < 1.6 * DELAY_S * 1000
    client.check_envelope()


def test_a_failing_encoder_costs_the_labels_not_the_finals(
    caplog: pytest.LogCaptureFixture,
) -> None:
    embedder = ToneVoices(delay_s=0.0, fail=True)
    with caplog.at_level(logging.ERROR, logger="echoic.streaming.runner"):
        client, _ = run(talk(embedder, True, False))

    finals = client.of(EventType.FINAL)
    assert [(f["text"], f["speaker"]) for f in finals] == [("u0", None), ("u1", None)]
    assert client.types()[-1] == "end"
    assert "speaker embedding of live-1:" in caplog.text
    assert "the encoder fell over" in caplog.text


def test_a_stream_that_does_not_diarize_embeds_nothing() -> None:
    embedder = ToneVoices(delay_s=0.0)

    async def scenario() -> Client:
        scheduler = ModelScheduler(ScriptedEngine.saying("plain"))
        speakers = SpeakerEmbeddings.of(embedder)
        client = Client()
        async with stream(scheduler, client, config=FINALS_ONLY, embed=speakers.embed) as live:
            for frame in voice(True):
                await live.send_paced(frame)
        await scheduler.aclose()
        speakers.close()
        return client

    client = run(scenario())
    [final] = client.of(EventType.FINAL)
    assert "speaker" not in final
    assert embedder.calls == []


def test_the_latency_record_says_how_long_a_final_waited_for_its_speaker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The embedding takes 0.3 s, the decode 0.1 s: the final waits 0.2 s more for its label.
    with caplog.at_level(logging.INFO, logger="echoic.latency"):
        client, _ = run(talk(ToneVoices(), True, False, decode_s=0.1))

    assert [f["speaker"] for f in client.of(EventType.FINAL)] == ["SPEAKER_00", "SPEAKER_01"]
    records = [json.loads(r.getMessage()) for r in caplog.records if r.name == "echoic.latency"]
    waits = [r["speaker_wait_ms"] for r in records]
    assert len(waits) == 2
    assert all(150 <= w <= 290 for w in waits), waits


def test_an_embedding_its_pool_cancels_costs_the_label_not_the_final() -> None:
    async def cancelled(audio: Audio) -> npt.NDArray[np.float32] | None:
        future: asyncio.Future[npt.NDArray[np.float32] | None] = (
            asyncio.get_running_loop().create_future()
        )
        future.cancel()  # as a pool shutting down cancels the work it had not started
        return await future

    async def scenario() -> Client:
        scheduler = ModelScheduler(ScriptedEngine.saying("still here"))
        client = Client()
        async with stream(scheduler, client, config=DIARIZED, embed=cancelled) as live:
            for frame in voice(True):
                await live.send_paced(frame)
        await scheduler.aclose()
        return client

    client = run(scenario())
    assert [(f["text"], f["speaker"]) for f in client.of(EventType.FINAL)] == [("still here", None)]
    assert client.types()[-1] == "end"
