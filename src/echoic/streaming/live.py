"""A live stream end to end: session + runner on a shared scheduler, with audio in and events out.

The WebSocket handler, ``echoic listen`` and the streaming benchmark all drive streams through
:class:`LiveStream`:

    async with LiveStream(scheduler, emit, config=config, detector=SileroVad()) as stream:
        stream.send(samples)            # a microphone: never blocks, drops when behind
        await stream.send_paced(samples)  # a file: waits for room instead of dropping
        stream.control(Control.FINALIZE)
    # leaving the block sends "stop" and waits for the last final and "end"
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Any

from echoic.audio.pcm import Resampler
from echoic.clock import Clock, SystemClock
from echoic.engines.base import Engine
from echoic.streaming.client import ClientTranscript
from echoic.streaming.config import StreamConfig
from echoic.streaming.runner import Control, Embed, Emit, RunnerConfig, StreamRunner
from echoic.streaming.scheduler import ModelScheduler
from echoic.streaming.schedulers import Schedulers
from echoic.streaming.session import StreamSession
from echoic.types import SAMPLE_RATE, Audio
from echoic.vad.detector import SpeechDetector


class LiveStream:
    def __init__(
        self,
        scheduler: ModelScheduler | Schedulers,
        emit: Emit,
        *,
        detector: SpeechDetector,
        config: StreamConfig | None = None,
        runner_config: RunnerConfig | None = None,
        session_id: str | None = None,
        model: str = "",
        sample_rate: int = SAMPLE_RATE,
        clock: Clock | None = None,
        ready: dict[str, Any] | None = None,
        embed: Embed | None = None,
    ) -> None:
        """``embed``: voice embeddings, when ``config.diarization`` labels finals with speakers
        (:class:`~echoic.streaming.speakers.SpeakerEmbeddings`)."""
        self._clock = clock or SystemClock()
        self.session = StreamSession(
            config or StreamConfig(),
            detector,
            session_id=session_id or uuid.uuid4().hex[:16],
            now=self._clock.now(),
            model=model,
        )
        self.runner = StreamRunner(
            self.session, scheduler, emit, config=runner_config, clock=self._clock, embed=embed
        )
        self._emit = emit
        self._ready = ready
        self._resampler = Resampler(sample_rate) if sample_rate != SAMPLE_RATE else None
        self._task: asyncio.Task[None] | None = None
        self._stop_requested = False
        #: Set when the stream's runner has returned (``end`` sent, cancelled, or aborted).
        self.stopped = asyncio.Event()

    @property
    def session_id(self) -> str:
        return self.session.session_id

    async def __aenter__(self) -> LiveStream:
        if self._ready is not None:
            await self._emit(self.session.ready_event(self._clock.now(), **self._ready))
        self._task = asyncio.create_task(self.runner.run(), name=f"stream:{self.session_id}")
        self._task.add_done_callback(lambda _task: self.stopped.set())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            await self.finish()
        else:
            await self.cancel()

    def _prepare(self, samples: Audio) -> Audio:
        return self._resampler.process(samples) if self._resampler is not None else samples

    def send(self, samples: Audio) -> None:
        """Audio from a live source: never blocks; the oldest audio is dropped when behind."""
        self._check_running()
        self.runner.push_audio(self._prepare(samples))

    async def send_paced(self, samples: Audio) -> None:
        """Audio from a source that can wait (a file): waits for queue room instead of dropping."""
        self._check_running()
        await self.runner.wait_for_room()
        self.runner.push_audio(self._prepare(samples))

    def control(self, control: Control) -> None:
        self.runner.push_control(control)

    def client_transcript(self, transcript: ClientTranscript) -> None:
        self.runner.push_transcript(transcript)

    async def finish(self) -> None:
        """``stop``: flush the resampler, finalize, wait for the last final and ``end``."""
        if self._task is None:
            return
        self.request_stop()
        task, self._task = self._task, None
        await task

    def request_stop(self) -> None:
        """``stop`` without waiting for ``end``: the caller keeps handing in what the stream
        still needs (a client's transcripts of the utterances the stop ends) and learns of the
        end from :attr:`stopped`. Once only; audio after it is ignored."""
        if self._task is None or self._task.done() or self._stop_requested:
            return
        self._stop_requested = True
        if self._resampler is not None:
            tail = self._resampler.flush()
            if len(tail):
                self.runner.push_audio(tail)
        self.runner.push_control(Control.STOP)

    async def cancel(self) -> None:
        """Abandon the stream (the client is gone): no more events, no orphan tasks."""
        if self._task is None:
            return
        self.runner.push_control(Control.CANCEL)
        task, self._task = self._task, None
        with contextlib.suppress(Exception):
            await task

    @property
    def done(self) -> bool:
        return self._task is None or self._task.done()

    def _check_running(self) -> None:
        if self._task is None:
            raise RuntimeError("LiveStream used outside its 'async with' block")
        if self._task.done():
            # Surface the runner's failure (e.g. StreamAborted) to the producer.
            self._task.result()


def stream_language(language: str | None, engines: Sequence[Engine]) -> str | None:
    """The language a stream decodes in.

    Short utterances make language detection unreliable (a two-word "Miss Eens" came out as
    Hebrew), so when a model in the stream only speaks one language, every model uses it.
    """
    if language is not None:
        return language
    for engine in engines:
        languages = engine.capabilities.languages
        if languages is not None and len(languages) == 1:
            return languages[0]
    return None


async def file_chunks(
    audio: Audio, *, chunk_ms: int = 20, realtime: bool = False, clock: Clock | None = None
) -> AsyncIterator[Audio]:
    """Cut ``audio`` into chunks; with ``realtime``, chunk N leaves at t0 + N·chunk by the clock."""
    clock = clock or SystemClock()
    size = SAMPLE_RATE * chunk_ms // 1000
    started = clock.now()
    for index, offset in enumerate(range(0, len(audio), size)):
        if realtime:
            delay = started + index * chunk_ms / 1000 - clock.now()
            if delay > 0:
                await asyncio.sleep(delay)
        yield audio[offset : offset + size]
