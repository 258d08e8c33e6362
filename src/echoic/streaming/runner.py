"""The asyncio glue around one :class:`StreamSession`: intake, decoding, events out.

- **Intake never blocks.** ``push_audio`` appends to a bounded queue of frames; when it is full
  the oldest frame is dropped and counted, and the client gets a ``warning``. If the queue stays
  above 90 % for more than ``abort_after_s`` the stream is aborted with an ``error`` (code
  ``overloaded``, close 1013): the server cannot keep up and pretending otherwise only grows the
  delay.
- **Control outranks audio.** ``finalize``/``pause``/``resume``/``stop`` are handled before any
  queued audio.
- **Backpressure from the model.** While ``max_pending_finals`` utterances wait for their final
  decode, the runner stops taking audio from the queue; the queue then fills and drops, instead
  of the session buffering unbounded audio. Finals themselves are never dropped.
- **Speakers beside finals.** A diarizing stream's final decode is joined by the embedding of the
  same audio (``embed``, on its own threads); the result carries both, so the final waits for
  the slower of the two, not for their sum. A failed embedding costs the label, not the final.
- **Clean shutdown.** Every decode task is named, kept and cancelled on exit; ``run`` returns
  after ``end`` (stop) or at once (cancel / client gone).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from echoic.clock import Clock, SystemClock
from echoic.errors import EngineTimeoutError
from echoic.streaming.client import ClientTranscript
from echoic.streaming.decoding import DecodeKind, DecodeRequest, DecodeResult, Output
from echoic.streaming.events import Event
from echoic.streaming.scheduler import ModelScheduler
from echoic.streaming.schedulers import Schedulers
from echoic.streaming.session import StreamSession
from echoic.types import Audio

log = logging.getLogger(__name__)
latency_log = logging.getLogger("echoic.latency")

Emit = Callable[[Event], Awaitable[None]]
#: An utterance's audio → its voice embedding (:meth:`SpeakerEmbeddings.embed
#: <echoic.streaming.speakers.SpeakerEmbeddings.embed>`).
Embed = Callable[[Audio], Awaitable[npt.NDArray[np.float32] | None]]


class Control(StrEnum):
    FINALIZE = "finalize"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    CANCEL = "cancel"


@dataclass(frozen=True, kw_only=True)
class RunnerConfig:
    queue_frames: int = 100
    abort_utilization: float = 0.9
    abort_after_s: float = 1.0
    max_pending_finals: int = 2
    #: Longer than a router's budget for a 30 s utterance on one tier (10 s + 0.5 × 30 s), so
    #: that a local timeout still leaves the cloud tier time to answer.
    final_timeout_s: float = 60.0
    draft_timeout_s: float = 10.0
    #: At most one ``audio_dropped`` warning per this many seconds (drops keep being counted).
    warning_interval_s: float = 1.0

    def __post_init__(self) -> None:
        if self.queue_frames < 2:
            raise ValueError(f"queue_frames must be at least 2, got {self.queue_frames}")
        if not 0 < self.abort_utilization <= 1:
            raise ValueError(f"abort_utilization must be in (0, 1], got {self.abort_utilization}")
        if self.max_pending_finals < 1:
            raise ValueError(
                f"max_pending_finals must be at least 1, got {self.max_pending_finals}"
            )


class StreamAborted(Exception):
    """The runner gave up on the stream (overload); the error event has been emitted."""


class StreamRunner:
    def __init__(
        self,
        session: StreamSession,
        scheduler: ModelScheduler | Schedulers,
        emit: Emit,
        *,
        config: RunnerConfig | None = None,
        clock: Clock | None = None,
        embed: Embed | None = None,
    ) -> None:
        """``embed``: voice embeddings for the finals of a diarizing session."""
        self.session = session
        self.schedulers = (
            scheduler if isinstance(scheduler, Schedulers) else Schedulers.single(scheduler)
        )
        self.config = config or RunnerConfig()
        self._emit = emit
        self._clock = clock or SystemClock()
        self._embed = embed if session.config.diarization else None
        self._frames: deque[Audio] = deque()
        self._controls: deque[Control] = deque()
        self._transcripts: deque[ClientTranscript] = deque()
        self._results: deque[DecodeResult] = deque()
        self._wake = asyncio.Event()
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._pressure_since: float | None = None
        self._dropped_unreported = 0
        self._last_drop_warning = -float("inf")
        self._room = asyncio.Event()
        self.aborted: str | None = None
        self.frames_received = 0

    # -- producer side (never blocks, never awaits) ---------------------------------------

    def push_audio(self, samples: Audio) -> None:
        now = self._clock.now()
        self.frames_received += 1
        self._frames.append(samples)
        while len(self._frames) > self.config.queue_frames:
            self._frames.popleft()
            self._dropped_unreported += 1
        utilization = len(self._frames) / self.config.queue_frames
        self.session.queue_pressure = max(self.session.queue_pressure * 0.9, utilization)
        if utilization > self.config.abort_utilization:
            if self._pressure_since is None:
                self._pressure_since = now
            elif now - self._pressure_since > self.config.abort_after_s and not self.aborted:
                self.aborted = (
                    f"audio queue above {self.config.abort_utilization:.0%} for more than "
                    f"{self.config.abort_after_s:g} s: the server cannot keep up with this stream"
                )
        else:
            self._pressure_since = None
        self._wake.set()

    def push_control(self, control: Control) -> None:
        self._controls.append(control)
        self._wake.set()

    def push_transcript(self, transcript: ClientTranscript) -> None:
        """A client's own transcript of an utterance; handled ahead of queued audio."""
        self._transcripts.append(transcript)
        self._wake.set()

    @property
    def queued_frames(self) -> int:
        return len(self._frames)

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Process until the session ends (``stop``), is cancelled, or is aborted."""
        try:
            while not self.session.ended:
                await self._sleep_until_woken()
                self._wake.clear()
                if await self._step():
                    break
        finally:
            await self._shutdown()

    async def _sleep_until_woken(self) -> None:
        """Until something arrives, or the session's next deadline (a client's grace period)."""
        deadline = self.session.next_deadline()
        if deadline is None:
            await self._wake.wait()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), max(0.0, deadline - self._clock.now()))

    async def _step(self) -> bool:
        """One pass over controls, results and audio; True when the loop should end."""
        now = self._clock.now()
        if self.aborted:
            await self._emit(self.session.error("overloaded", self.aborted, now, retryable=True))
            await self._handle(self.session.cancel(now))
            raise StreamAborted(self.aborted)
        if self._dropped_unreported:
            dropped, self._dropped_unreported = self._dropped_unreported, 0
            warn = now - self._last_drop_warning >= self.config.warning_interval_s
            if warn:
                self._last_drop_warning = now
            await self._handle(self.session.note_dropped(dropped, now, warn=warn))
        while self._controls:
            control = self._controls.popleft()
            if control is Control.CANCEL:
                await self._handle(self.session.cancel(now))
                return True
            if control is Control.STOP:  # audio sent before "stop" still counts
                await self._handle(self._frames_into_session(now, limit=False))
            await self._handle(_CONTROL_CALLS[control](self.session, now))
        while self._transcripts:
            await self._handle(self.session.client_transcript(self._transcripts.popleft(), now))
        while self._results:
            await self._handle(self.session.on_result(self._results.popleft(), self._clock.now()))
        await self._handle(self.session.tick(self._clock.now()))
        if self.session.pending_finals < self.config.max_pending_finals:
            # A fresh reading: the events sent above took time, and these must not predate them.
            await self._handle(self._frames_into_session(self._clock.now()))
        if len(self._frames) < self.config.queue_frames // 2:
            self._room.set()
        return self.session.ended

    async def wait_for_room(self) -> None:
        """For producers that can wait (a file, not a microphone): until the queue is half empty."""
        while len(self._frames) >= self.config.queue_frames // 2 and not self.session.ended:
            self._room.clear()
            await self._room.wait()

    def _frames_into_session(self, now: float, *, limit: bool = True) -> Output:
        out = Output()
        cap = self.config.max_pending_finals
        while self._frames and (not limit or self.session.pending_finals < cap):
            out.extend(self.session.feed(self._frames.popleft(), now))
        return out

    async def _handle(self, out: Output) -> None:
        for request_id in out.cancelled:
            self.schedulers.cancel(self.session.session_id, request_id)
            task = self._tasks.pop(request_id, None)
            if task is not None and not task.done():
                task.cancel()
        for request in out.requests:
            self._tasks[request.id] = asyncio.create_task(
                self._decode(request), name=f"decode:{request.session_id}:{request.id}"
            )
        for record in out.records:
            latency_log.info(json.dumps({"event": "utterance_latency", **asdict(record)}))
        for event in out.events:
            await self._emit(event)

    async def _decode(self, request: DecodeRequest) -> None:
        timeout = (
            self.config.final_timeout_s
            if request.kind is DecodeKind.FINAL
            else self.config.draft_timeout_s
        )
        started = self._clock.now()
        embedding = None
        if self._embed is not None and request.kind is DecodeKind.FINAL:
            embedding = asyncio.create_task(
                _embedding(self._embed, request),
                name=f"embed:{request.session_id}:{request.id}",
            )
        try:
            result = await asyncio.wait_for(
                self.schedulers.for_request(request).submit(request), timeout
            )
            if embedding is not None and result.transcript is not None:
                decoded = self._clock.now()
                vector = await embedding
                waited = self._clock.now() - decoded
                result = replace(result, embedding=vector, embedding_wait_s=waited)
        except TimeoutError:
            self.schedulers.cancel(request.session_id, request.id)
            error = EngineTimeoutError(f"no transcription within {timeout:g} s")
            result = DecodeResult(
                request_id=request.id,
                error=error,
                started_at=started,
                finished_at=self._clock.now(),
            )
        except asyncio.CancelledError:
            return  # superseded or the stream ended; the session has forgotten it
        finally:
            self._tasks.pop(request.id, None)
            if embedding is not None and not embedding.done():
                embedding.cancel()  # the decode failed or was cancelled: no label needed
        self._results.append(result)
        self._wake.set()

    async def _shutdown(self) -> None:
        self._room.set()
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _embedding(embed: Embed, request: DecodeRequest) -> npt.NDArray[np.float32] | None:
    """The request's voice embedding; ``None`` (the final keeps the previous speaker) when the
    encoder fails or its pool cancels the work (shutting down), which is logged: a label is not
    worth a final. Only cancelling this task itself cancels it."""
    try:
        return await embed(request.audio)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        log.warning("speaker embedding of %s:%s was cancelled", request.session_id, request.id)
        return None
    except Exception:
        log.exception("speaker embedding of %s:%s failed", request.session_id, request.id)
        return None


def _finalize(session: StreamSession, now: float) -> Output:
    return session.finalize(now)


_CONTROL_CALLS: dict[Control, Callable[[StreamSession, float], Output]] = {
    Control.FINALIZE: _finalize,
    Control.PAUSE: StreamSession.pause,
    Control.RESUME: StreamSession.resume,
    Control.STOP: StreamSession.stop,
}
