"""One live stream, as a pure state machine: audio and decode results in, events and decode
requests out (DESIGN.md §3).

No I/O, no ``await``, no clock: every call takes ``now`` (the runner's monotonic time), and the
audio position is counted in samples. The runner (:mod:`echoic.streaming.runner`) executes the
:class:`DecodeRequest` objects this session asks for and hands back :class:`DecodeResult`.

Each utterance runs the state machine of :mod:`echoic.streaming.utterance`. The session owns the
audio, the VAD and the utterances' lifecycle; its parts are nouns of their own:
:mod:`~echoic.streaming.windows` (the decode requests in flight), :mod:`~echoic.streaming.partials`
(drafts and confirmations), :mod:`~echoic.streaming.finals` (the events and log line that end an
utterance) and :mod:`~echoic.streaming.client` (client-supplied transcripts).

Overlap, not serial: drafts re-decode the open utterance while it is spoken; after
``speculative_silence_ms`` of trailing silence a final decode starts *speculatively*, and is
discarded if speech resumes. When the endpoint is confirmed the final is emitted as soon as that
decode is done, so the user waits ≈ max(endpoint delay, decode), not their sum.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import Any

import numpy as np

from echoic.audio.buffer import RingBuffer
from echoic.diarize.online import OnlineSpeakers
from echoic.streaming.client import ClientTranscript, client_result, grace_expired
from echoic.streaming.config import StreamConfig
from echoic.streaming.decoding import DecodeKind, DecodeResult, LatencyRecord, Output
from echoic.streaming.events import Event, EventStamper, EventType
from echoic.streaming.fallbacks import fallback_events
from echoic.streaming.finals import final_output, latency_record, seconds
from echoic.streaming.partials import Partials
from echoic.streaming.speculative import Merger
from echoic.streaming.turn import required_silence_ms, turn_cue
from echoic.streaming.utterance import TERMINAL, Utterance, UtteranceState
from echoic.streaming.windows import DecodeWindows
from echoic.types import SAMPLE_RATE, Audio
from echoic.vad.detector import SpeechDetector
from echoic.vad.state import (
    Endpointer,
    SpeechEnded,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    VadEvent,
)


class StreamSession:
    def __init__(
        self,
        config: StreamConfig,
        detector: SpeechDetector,
        *,
        session_id: str,
        now: float,
        model: str = "",
    ) -> None:
        self.config = config
        self.session_id = session_id
        self.model = model
        self._detector = detector
        self._endpointer = Endpointer(config.vad)
        self._stamp = EventStamper(session_id, now)
        self._ring = RingBuffer(round(config.buffer_s * SAMPLE_RATE))
        self._window = config.vad.window_samples
        self._carry = np.zeros(0, dtype=np.float32)
        self._processed = 0  # samples already run through the VAD
        self._arrivals: deque[tuple[int, float]] = deque(maxlen=4096)
        self._utterance_ids = itertools.count(1)
        self._open: Utterance | None = None
        self._pending: deque[Utterance] = deque()  # ended, waiting for their finals, in order
        self._windows = DecodeWindows(config, self._ring, session_id=session_id)
        self._partials = Partials(config, self._stamp, self._windows, model=model)
        self._paused = False
        self._stopping = False
        self._ended = False
        self._speakers = (
            OnlineSpeakers(max_speakers=config.max_speakers) if config.diarization else None
        )
        self.utterances = 0
        self.frames_dropped = 0
        self.queue_pressure = 0.0

    # -- public API ------------------------------------------------------------------------

    @property
    def audio_s(self) -> float:
        return self._ring.end / SAMPLE_RATE

    @property
    def pending_finals(self) -> int:
        return len(self._pending)

    @property
    def ended(self) -> bool:
        return self._ended

    def feed(self, audio: Audio, now: float) -> Output:
        """Take 16 kHz mono float32 audio that arrived at ``now``."""
        out = Output()
        if self._ended or self._stopping or self._paused or len(audio) == 0:
            return out
        self._ring.write(audio)
        self._arrivals.append((self._ring.end, now))
        samples = np.concatenate([self._carry, audio]) if len(self._carry) else audio
        usable = len(samples) - len(samples) % self._window
        for offset in range(0, usable, self._window):
            window = samples[offset : offset + self._window]
            self._processed += self._window
            probability = self._detector.probability(window)
            for vad_event in self._endpointer.push(probability, self._processed):
                out.extend(self._on_vad(vad_event, now))
            out.extend(self._maybe_end_turn(now))
        self._carry = samples[usable:].copy()
        out.extend(self._maybe_draft(now))
        out.extend(self._maybe_confirm(now))
        return out

    def on_result(self, result: DecodeResult, now: float) -> Output:
        out = Output()
        entry = self._windows.inflight.pop(result.request_id, None)
        if entry is None:
            return out  # cancelled or stale
        request, utterance = entry
        if request.kind is DecodeKind.DRAFT:
            self._windows.draft_inflight = None
            out.extend(self._partials.on_draft(request, utterance, result, now))
            out.extend(self._maybe_draft(now))
        elif request.kind is DecodeKind.CONFIRM:
            if utterance.confirm_inflight == request.id:
                utterance.confirm_inflight = None
            out.extend(self._partials.on_confirm(request, utterance, result, now))
            out.extend(self._maybe_confirm(now))
        else:
            if request.speculative and utterance.speculative is not request:
                return out  # speech resumed after it was started: stale
            utterance.final_result = result
            out.extend(self._flush_finals(now))
        out.extend(self._maybe_end_turn(now))
        return out

    def _maybe_end_turn(self, now: float) -> Output:
        """End of turn from the words (:mod:`echoic.streaming.turn`): the trailing silence that
        ends the open utterance depends on its newest hypothesis, short after a finished
        sentence, longest when it stops mid-sentence."""
        utterance = self._open
        silence = self._endpointer.trailing_silence_samples
        if utterance is None or silence == 0:
            return Output()
        cue = turn_cue(utterance.newest_text(), self.config.final_options.language or "en")
        if silence * 1000 < required_silence_ms(cue, self.config.vad) * SAMPLE_RATE:
            return Output()
        utterance.turn_cue = cue
        out = Output()
        for vad_event in self._endpointer.end_turn():
            out.extend(self._on_vad(vad_event, now))
        return out

    def note_dropped(self, frames: int, now: float, *, warn: bool = True) -> Output:
        """The runner dropped ``frames`` of the oldest queued audio (backpressure)."""
        self.frames_dropped += frames
        if not warn:
            return Output()
        detail = f"the server is behind: {self.frames_dropped} audio frames dropped so far"
        return self.warn("audio_dropped", detail, now)

    def warn(self, code: str, detail: str, now: float) -> Output:
        return Output(events=[self._stamp(EventType.WARNING, now, code=code, detail=detail)])

    def error(self, code: str, message: str, now: float, *, retryable: bool = False) -> Event:
        return self._stamp(EventType.ERROR, now, code=code, message=message, retryable=retryable)

    def finalize(self, now: float, *, reason: str = "finalize") -> Output:
        """End the open utterance now (push-to-talk)."""
        out = Output()
        for vad_event in self._endpointer.finalize(self._processed):
            out.extend(self._on_vad(vad_event, now, reason=reason))
        return out

    def pause(self, now: float) -> Output:
        out = self.finalize(now)
        self._paused = True
        return out

    def resume(self, now: float) -> Output:
        """Take audio again after :meth:`pause`; a no-op when not paused.

        The endpointer is not reset: :meth:`pause` left it quiet, and it must remember where the
        last utterance ended so that the next one's pre-roll does not reach back into it.
        """
        if self._paused:
            self._paused = False
            self._detector.reset()  # its state describes audio from before the gap
        return Output()

    def stop(self, now: float) -> Output:
        """Finalize everything; ``end`` follows once every pending final is out."""
        out = self.finalize(now, reason="stop")
        self._stopping = True
        out.extend(self._maybe_end(now))
        return out

    def cancel(self, now: float) -> Output:
        """Abandon the stream: nothing more is emitted; in-flight decodes are cancelled."""
        out = Output(cancelled=list(self._windows.inflight))
        utterances = [*self._pending, *([self._open] if self._open else [])]
        for utterance in utterances:
            if utterance.state not in TERMINAL:
                utterance.move(UtteranceState.CANCELLED)
            out.records.append(self._record(utterance, now, None))
        self._windows.inflight.clear()
        self._pending.clear()
        self._open = None
        self._ended = True
        return out

    # -- client-supplied transcripts (DESIGN.md §4) ----------------------------------------

    def client_transcript(self, supplied: ClientTranscript, now: float) -> Output:
        """The client's own transcript of an utterance: it becomes the utterance's final
        (``source: "client"``) and the session decodes nothing for it. One for an utterance
        still open is kept until the utterance ends."""
        if not self.config.client_transcripts:
            return self._error_output(
                "unsupported",
                "this stream did not announce client transcripts (start.client_transcripts)",
                now,
            )
        utterance = self._waiting_for_client(supplied.utterance_id)
        if utterance is None:
            return self._error_output(
                "unknown_utterance",
                f"no utterance {supplied.utterance_id} is waiting for a transcript",
                now,
            )
        if utterance.final_request is not None:  # the grace period is over: the server decodes
            return self.warn(
                "late_transcript",
                f"utterance {utterance.id}: the transcript came after the grace period; the "
                "server's own transcription is used",
                now,
            )
        if utterance is self._open:
            utterance.client_supplied = supplied  # its times are bounded when the utterance ends
            return Output()
        utterance.final_result = client_result(utterance, supplied, now)
        utterance.client_deadline = None
        return self._flush_finals(now)

    def _waiting_for_client(self, utterance_id: int) -> Utterance | None:
        candidates = [*([self._open] if self._open else []), *self._pending]
        for utterance in candidates:
            if utterance.id == utterance_id and utterance.final_result is None:
                return utterance
        return None

    def next_deadline(self) -> float | None:
        """When :meth:`tick` has something to do (a client's grace period ends)."""
        deadlines = [u.client_deadline for u in self._pending if u.client_deadline is not None]
        return min(deadlines) if deadlines else None

    def tick(self, now: float) -> Output:
        """Utterances whose client transcript did not come in time are decoded by the server,
        with a ``fallback`` event (``from: "client"``)."""
        out = Output()
        for utterance in self._pending:
            deadline = utterance.client_deadline
            if deadline is None or now < deadline:
                continue
            utterance.client_deadline = None
            end = utterance.end_sample if utterance.end_sample is not None else self._processed
            request = self._windows.request(utterance, DecodeKind.FINAL, end, now)
            utterance.final_request = request
            out.requests.append(request)
            skip = grace_expired(self.config.client_grace_ms)
            out.extend(fallback_events(self._stamp, utterance, (skip,), now))
        return out

    def _error_output(self, code: str, message: str, now: float) -> Output:
        return Output(events=[self.error(code, message, now)])

    def ready_event(self, now: float, **data: Any) -> Event:
        return self._stamp(EventType.READY, now, **data)

    # -- VAD events ------------------------------------------------------------------------

    def _on_vad(self, event: VadEvent, now: float, *, reason: str | None = None) -> Output:
        out = Output()
        if isinstance(event, SpeechStarted):
            utterance = Utterance(
                id=next(self._utterance_ids),
                start_sample=event.start_sample,
                last_confirm_end=event.start_sample,
                merger=Merger(self.config.merge),
            )
            utterance.move(UtteranceState.CAPTURING)
            utterance.dropped_at_start = self.frames_dropped
            self._open = utterance
            self.utterances += 1
            self._partials.last_draft_end = event.start_sample
            out.events.append(
                self._stamp(
                    EventType.SPEECH_STARTED,
                    now,
                    utterance_id=utterance.id,
                    audio_start_s=seconds(event.start_sample),
                )
            )
        elif isinstance(event, SpeechPaused) and self._open is not None:
            if self.config.speculative_final and not self.config.client_transcripts:
                request = self._windows.request(
                    self._open, DecodeKind.FINAL, event.end_sample, now, speculative=True
                )
                self._open.speculative = request
                out.requests.append(request)
        elif isinstance(event, SpeechResumed) and self._open is not None:
            out.extend(self._partials.on_resumed(self._open, now))
        elif isinstance(event, SpeechEnded) and self._open is not None:
            utterance, self._open = self._open, None
            utterance.end_sample = event.end_sample
            utterance.end_reason = reason if event.reason == "finalize" and reason else event.reason
            utterance.ended_at = now
            utterance.speech_end_arrival = self._arrival(event.end_sample, now)
            utterance.move(UtteranceState.TRANSCRIBING)
            out.events.append(
                self._stamp(
                    EventType.SPEECH_ENDED,
                    now,
                    utterance_id=utterance.id,
                    audio_end_s=seconds(event.end_sample),
                    reason=utterance.end_reason,
                )
            )
            if self._windows.draft_inflight is not None:
                self._windows.cancel(
                    self._windows.draft_inflight, out
                )  # drafts of an ended utterance are moot
            if utterance.confirm_inflight is not None:
                self._windows.cancel(utterance.confirm_inflight, out)  # the final supersedes it
            # A speculative decode still standing covers this utterance (only silence followed);
            # it may even have answered already (its result is stashed in final_result).
            utterance.final_request = utterance.speculative
            if self.config.client_transcripts:
                if utterance.client_supplied is not None:
                    supplied = utterance.client_supplied
                    utterance.final_result = client_result(utterance, supplied, now)
                else:
                    utterance.client_deadline = now + self.config.client_grace_ms / 1000
            elif utterance.final_request is None:
                request = self._windows.request(utterance, DecodeKind.FINAL, event.end_sample, now)
                utterance.final_request = request
                out.requests.append(request)
            self._pending.append(utterance)
            out.extend(self._flush_finals(now))
        return out

    # -- finals ----------------------------------------------------------------------------

    def _flush_finals(self, now: float) -> Output:
        """Emit finals in utterance order, as soon as each one's decode has answered."""
        out = Output()
        while self._pending and self._pending[0].final_result is not None:
            utterance = self._pending.popleft()
            result = utterance.final_result
            assert result is not None  # checked by the loop condition
            # Finals leave in utterance order: speaker labels are assigned in it.
            out.extend(
                final_output(self._stamp, utterance, now, model=self.model, speakers=self._speakers)
            )
            out.records.append(self._record(utterance, now, result))
        out.extend(self._maybe_end(now))
        return out

    def _record(
        self, utterance: Utterance, now: float, result: DecodeResult | None
    ) -> LatencyRecord:
        return latency_record(
            utterance,
            now,
            result,
            session_id=self.session_id,
            model=self.model,
            processed=self._processed,
            window_samples=self._window,
            frames_dropped=self.frames_dropped,
            queue_pressure=self.queue_pressure,
            diarized=self._speakers is not None,
        )

    # -- drafts and confirmations (:mod:`echoic.streaming.partials`) ----------------------

    def _maybe_draft(self, now: float) -> Output:
        return self._partials.maybe_draft(self._open, self._processed, self._endpointer.state, now)

    def _maybe_confirm(self, now: float) -> Output:
        return self._partials.maybe_confirm(
            self._open, self._processed, self._endpointer.state, now
        )

    def _maybe_end(self, now: float) -> Output:
        if not self._stopping or self._ended or self._pending or self._open is not None:
            return Output()
        self._ended = True
        usage = {
            "audio_s": round(self.audio_s, 3),
            "utterances": self.utterances,
            "frames_dropped": self.frames_dropped,
        }
        return Output(events=[self._stamp(EventType.END, now, usage=usage)])

    def _arrival(self, sample: int, default: float) -> float:
        """When the chunk holding ``sample`` arrived."""
        for end, at in self._arrivals:
            if end >= sample:
                return at
        return default
