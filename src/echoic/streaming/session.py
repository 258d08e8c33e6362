"""One live stream, as a pure state machine: audio and decode results in, events and decode
requests out (DESIGN.md §3).

No I/O, no ``await``, no clock: every call takes ``now`` (the runner's monotonic time), and the
audio position is counted in samples. The runner (:mod:`echoic.streaming.runner`) executes the
:class:`DecodeRequest` objects this session asks for and hands back :class:`DecodeResult`.

Each utterance runs the state machine of :mod:`echoic.streaming.utterance`.

Overlap, not serial: drafts re-decode the open utterance while it is spoken; after
``speculative_silence_ms`` of trailing silence a final decode starts *speculatively*, and is
discarded if speech resumes. When the endpoint is confirmed the final is emitted as soon as that
decode is done, so the user waits ≈ max(endpoint delay, decode), not their sum.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import replace
from typing import Any

import numpy as np

from echoic.audio.buffer import RingBuffer
from echoic.diarize.online import OnlineSpeakers
from echoic.errors import (
    EchoicError,
    EngineTimeoutError,
    ProviderUnavailableError,
    SupersededError,
)
from echoic.streaming.client import ClientTranscript, build_client_transcript
from echoic.streaming.config import StreamConfig
from echoic.streaming.decoding import (
    DecodeKind,
    DecodeRequest,
    DecodeResult,
    LatencyRecord,
    Output,
)
from echoic.streaming.events import Event, EventStamper, EventType
from echoic.streaming.finals import final_fields, final_latency, ms, seconds
from echoic.streaming.speculative import Merger
from echoic.streaming.turn import required_silence_ms, turn_cue
from echoic.streaming.utterance import TERMINAL, Utterance, UtteranceState
from echoic.types import SAMPLE_RATE, Audio, Fallback, Transcript
from echoic.vad.detector import SpeechDetector
from echoic.vad.state import (
    Endpointer,
    SpeechEnded,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    VadEvent,
    VadState,
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
        self._window_ids = itertools.count(1)
        self._open: Utterance | None = None
        self._pending: deque[Utterance] = deque()  # ended, waiting for their finals, in order
        self._inflight: dict[int, tuple[DecodeRequest, Utterance]] = {}
        self._draft_inflight: int | None = None
        self._last_draft_end = 0
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
        entry = self._inflight.pop(result.request_id, None)
        if entry is None:
            return out  # cancelled or stale
        request, utterance = entry
        if request.kind is DecodeKind.DRAFT:
            self._draft_inflight = None
            out.extend(self._on_draft(request, utterance, result, now))
            out.extend(self._maybe_draft(now))
        elif request.kind is DecodeKind.CONFIRM:
            if utterance.confirm_inflight == request.id:
                utterance.confirm_inflight = None
            out.extend(self._on_confirm(request, utterance, result, now))
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
        cue = turn_cue(self._hypothesis(utterance), self.config.final_options.language or "en")
        if silence * 1000 < required_silence_ms(cue, self.config.vad) * SAMPLE_RATE:
            return Output()
        utterance.turn_cue = cue
        out = Output()
        for vad_event in self._endpointer.end_turn():
            out.extend(self._on_vad(vad_event, now))
        return out

    @staticmethod
    def _hypothesis(utterance: Utterance) -> str | None:
        """The newest text of the open utterance: its speculative final's once that answered
        (it covers every word up to the pause), else the newest draft or confirmation shown."""
        result = utterance.final_result
        if utterance.speculative is not None and result is not None and result.transcript:
            return result.transcript.text
        return utterance.hypothesis

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
        out = Output(cancelled=list(self._inflight))
        utterances = [*self._pending, *([self._open] if self._open else [])]
        for utterance in utterances:
            if utterance.state not in TERMINAL:
                utterance.move(UtteranceState.CANCELLED)
            out.records.append(self._record(utterance, now, None))
        self._inflight.clear()
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
        utterance.final_result = self._client_result(utterance, supplied, now)
        utterance.client_deadline = None
        return self._flush_finals(now)

    @staticmethod
    def _client_result(
        utterance: Utterance, supplied: ClientTranscript, now: float
    ) -> DecodeResult:
        assert utterance.end_sample is not None  # only ended utterances get their final
        transcript = build_client_transcript(
            supplied,
            start_s=utterance.start_sample / SAMPLE_RATE,
            duration_s=(utterance.end_sample - utterance.start_sample) / SAMPLE_RATE,
        )
        return DecodeResult(request_id=0, transcript=transcript, started_at=now, finished_at=now)

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
            request = self._request(utterance, DecodeKind.FINAL, end, now)
            utterance.final_request = request
            out.requests.append(request)
            grace = self.config.client_grace_ms / 1000
            skip = Fallback(
                from_tier="client",
                to_tier="server",
                reason="grace_expired",
                detail=f"no client transcript within {grace:g} s of the end of speech",
            )
            out.extend(self._fallbacks(utterance, (skip,), now))
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
            self._last_draft_end = event.start_sample
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
                request = self._request(
                    self._open, DecodeKind.FINAL, event.end_sample, now, speculative=True
                )
                self._open.speculative = request
                out.requests.append(request)
        elif isinstance(event, SpeechResumed) and self._open is not None:
            out.extend(self._on_resumed(self._open, now))
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
            if self._draft_inflight is not None:
                self._cancel(self._draft_inflight, out)  # drafts of an ended utterance are moot
            if utterance.confirm_inflight is not None:
                self._cancel(utterance.confirm_inflight, out)  # the final supersedes it
            # A speculative decode still standing covers this utterance (only silence followed);
            # it may even have answered already (its result is stashed in final_result).
            utterance.final_request = utterance.speculative
            if self.config.client_transcripts:
                if utterance.client_supplied is not None:
                    supplied = utterance.client_supplied
                    utterance.final_result = self._client_result(utterance, supplied, now)
                else:
                    utterance.client_deadline = now + self.config.client_grace_ms / 1000
            elif utterance.final_request is None:
                request = self._request(utterance, DecodeKind.FINAL, event.end_sample, now)
                utterance.final_request = request
                out.requests.append(request)
            self._pending.append(utterance)
            out.extend(self._flush_finals(now))
        return out

    def _on_resumed(self, utterance: Utterance, now: float) -> Output:
        """Speech came back after a pause: the speculative final no longer covers the utterance.

        In dual-model mode it still is a confirmation of everything said up to the pause, so it
        is kept as one; otherwise it is cancelled (or its early answer discarded).
        """
        out = Output()
        stale = utterance.speculative
        if stale is None:
            return out
        utterance.speculative = None
        answered, utterance.final_result = utterance.final_result, None
        if answered is not None and answered.transcript is not None:
            utterance.hypothesis = answered.transcript.text  # every word up to the pause
        if (
            not self.config.confirms
            or utterance.confirm_inflight is not None
            or stale.fast  # the drafting model's: no confirmation
        ):
            self._cancel(stale.id, out)
            return out
        as_confirm = replace(stale, kind=DecodeKind.CONFIRM, speculative=False)
        if answered is not None:
            out.extend(self._on_confirm(as_confirm, utterance, answered, now))
        else:
            self._inflight[stale.id] = (as_confirm, utterance)
            utterance.confirm_inflight = stale.id
        return out

    def _maybe_confirm(self, now: float) -> Output:
        utterance = self._open
        interval = self.config.confirm_interval_ms
        if (
            interval is None
            or not self.config.confirmed_partials
            or self.config.client_transcripts
            or utterance is None
            or utterance.confirm_inflight is not None
            or utterance.speculative is not None
            # Trailing silence: the speculative final is about to start, and becomes this
            # pause's confirmation if speech resumes; a confirmation now would only delay it.
            or self._endpointer.state is VadState.STOPPING
        ):
            return Output()
        end = self._processed
        if (end - utterance.last_confirm_end) * 1000 // SAMPLE_RATE < interval:
            return Output()
        request = self._request(utterance, DecodeKind.CONFIRM, end, now)
        utterance.confirm_inflight = request.id
        utterance.last_confirm_end = end
        return Output(requests=[request])

    def _on_confirm(
        self, request: DecodeRequest, utterance: Utterance, result: DecodeResult, now: float
    ) -> Output:
        if (
            utterance.state is not UtteranceState.CAPTURING
            or request.id <= utterance.last_confirmed_window
            or result.transcript is None
            or not result.transcript.text
        ):
            return Output()
        text, stable = utterance.merger.confirm(result.transcript.text)
        utterance.hypothesis = text
        utterance.last_confirmed_window = request.id
        utterance.last_shown_window = max(utterance.last_shown_window, request.id)
        # Windows numbered before this request decoded no more audio than it did.
        corrects = [w for w in utterance.uncorrected if w < request.id]
        utterance.uncorrected = [w for w in utterance.uncorrected if w > request.id]
        utterance.uncorrected.append(request.id)
        out = self._fallbacks(utterance, result.transcript.metadata.fallback, now)
        out.events.append(
            self._partial(
                utterance,
                request,
                result.transcript,
                now,
                text=text,
                stable_text=stable,
                confirmed_text=text,
                confidence="confirmed",
                corrects_window_ids=corrects,
            )
        )
        return out

    def _partial(
        self,
        utterance: Utterance,
        request: DecodeRequest,
        transcript: Transcript,
        now: float,
        **fields: Any,
    ) -> Event:
        """A ``partial`` for the window ``request`` decoded, with ``fields`` (texts, confidence)."""
        return self._stamp(
            EventType.PARTIAL,
            now,
            utterance_id=utterance.id,
            window_id=request.id,
            **fields,
            source=transcript.metadata.provider,
            model=transcript.metadata.model or self.model,
            audio_start_s=seconds(request.start_sample),
            audio_end_s=seconds(request.end_sample),
        )

    def _fallbacks(
        self, utterance: Utterance, skips: tuple[Fallback, ...] | None, now: float
    ) -> Output:
        """``fallback`` events for the tiers skipped on the way to a result: never silent."""
        out = Output()
        for skip in skips or ():
            utterance.fallback_strategy = f"{skip.from_tier}->{skip.to_tier or 'none'}"
            out.events.append(
                self._stamp(
                    EventType.FALLBACK,
                    now,
                    utterance_id=utterance.id,
                    **skip.to_dict(),
                )
            )
        return out

    def _cancel(self, request_id: int, out: Output) -> None:
        self._inflight.pop(request_id, None)
        if self._draft_inflight == request_id:
            self._draft_inflight = None
        out.cancelled.append(request_id)

    # -- decoding --------------------------------------------------------------------------

    def _request(
        self,
        utterance: Utterance,
        kind: DecodeKind,
        end_sample: int,
        now: float,
        *,
        speculative: bool = False,
    ) -> DecodeRequest:
        start = max(utterance.start_sample, self._ring.start)
        end = max(start, min(end_sample, self._ring.end))
        request = DecodeRequest(
            id=next(self._window_ids),
            session_id=self.session_id,
            utterance_id=utterance.id,
            kind=kind,
            audio=self._ring.read(start, end),
            start_sample=start,
            end_sample=end,
            options=self.config.draft_options
            if kind is DecodeKind.DRAFT
            else self.config.final_options,
            speculative=speculative,
            fast=kind is DecodeKind.FINAL and self._confident(utterance),
            created_at=now,
        )
        self._inflight[request.id] = (request, utterance)
        return request

    def _confident(self, utterance: Utterance) -> bool:
        threshold = self.config.skip_confirm_logprob
        return (
            threshold is not None
            and utterance.draft_logprob is not None
            and utterance.draft_logprob >= threshold
        )

    def _maybe_draft(self, now: float) -> Output:
        utterance = self._open
        cfg = self.config
        if (
            utterance is None
            or not cfg.interim_results
            or cfg.client_transcripts
            or self._draft_inflight is not None
            or utterance.speculative is not None
        ):
            return Output()
        end = self._processed
        buffered_ms = (end - utterance.start_sample) * 1000 // SAMPLE_RATE
        new_ms = (end - self._last_draft_end) * 1000 // SAMPLE_RATE
        drafted = self._last_draft_end > utterance.start_sample  # shown or not (empty, failed)
        if buffered_ms < cfg.draft_min_ms or (drafted and new_ms < cfg.draft_interval_ms):
            return Output()
        if utterance.last_shown_window >= 0 and self._endpointer.state is VadState.STOPPING:
            # Trailing silence: the text shown already holds every word and the final decode is
            # about to start; another draft would only take its CPU.
            return Output()
        request = self._request(utterance, DecodeKind.DRAFT, end, now)
        self._draft_inflight = request.id
        self._last_draft_end = end
        return Output(requests=[request])

    def _on_draft(
        self, request: DecodeRequest, utterance: Utterance, result: DecodeResult, now: float
    ) -> Output:
        out = Output()
        if (
            utterance.state is not UtteranceState.CAPTURING
            or request.id <= utterance.last_shown_window
        ):
            return out
        if isinstance(result.error, SupersededError):
            return out  # a newer draft replaced it: nothing to report
        if result.transcript is None:
            if utterance.draft_warned:
                return out  # once per utterance: drafts fail again every interval
            utterance.draft_warned = True
            detail = result.error.message if result.error else "draft decode failed"
            return self.warn("draft_failed", detail, now)
        hypothesis = result.transcript.text
        if not hypothesis:
            return out
        text, stable = utterance.merger.draft(hypothesis)
        utterance.hypothesis = text
        utterance.draft_logprob = result.transcript.avg_logprob
        utterance.last_shown_window = request.id
        utterance.draft_windows.append(request.id)
        utterance.uncorrected.append(request.id)
        out.events.append(
            self._partial(
                utterance,
                request,
                result.transcript,
                now,
                text=text,
                stable_text=stable,
                confirmed_text=utterance.merger.confirmed_text,
                confidence="draft",
            )
        )
        return out

    def _flush_finals(self, now: float) -> Output:
        """Emit finals in utterance order, as soon as each one's decode has answered."""
        out = Output()
        while self._pending and self._pending[0].final_result is not None:
            utterance = self._pending.popleft()
            result = utterance.final_result
            assert result is not None  # checked by the loop condition
            if result.transcript is not None:
                utterance.move(UtteranceState.FINALIZING)
                out.extend(self._fallbacks(utterance, result.transcript.metadata.fallback, now))
                out.events.append(self._final_event(utterance, result.transcript, now))
                utterance.move(UtteranceState.DONE)
            else:
                error = result.error or EchoicError("final decode failed")
                if isinstance(error, ProviderUnavailableError):
                    skips = tuple(
                        s for s in error.skips if isinstance(s, Fallback) and s.to_tier is not None
                    )
                    out.extend(self._fallbacks(utterance, skips, now))
                timed_out = isinstance(error, EngineTimeoutError)
                utterance.move(UtteranceState.TIMED_OUT if timed_out else UtteranceState.FAILED)
                out.events.append(
                    self._stamp(
                        EventType.ERROR,
                        now,
                        code=error.code,
                        message=f"utterance {utterance.id}: {error.message}",
                        retryable=error.retryable,
                        utterance_id=utterance.id,
                    )
                )
            out.records.append(self._record(utterance, now, result))
        out.extend(self._maybe_end(now))
        return out

    def _final_event(self, utterance: Utterance, transcript: Transcript, now: float) -> Event:
        result = utterance.final_result
        assert result is not None
        speakers = self._speakers  # finals leave in utterance order: labels are assigned in it
        # A final without words heard noise (a cough, a door): its "voice" is no speaker's.
        embedding = result.embedding if transcript.text.strip() else None
        return self._stamp(
            EventType.FINAL,
            now,
            **final_fields(
                utterance,
                transcript,
                model=self.model,
                diarized=speakers is not None,
                speaker=speakers.assign(embedding) if speakers is not None else None,
            ),
            latency=final_latency(utterance, result, now),
        )

    def _record(
        self, utterance: Utterance, now: float, result: DecodeResult | None
    ) -> LatencyRecord:
        request = utterance.final_request
        latency = final_latency(utterance, result, now) if result else {}
        samples = (utterance.end_sample or self._processed) - utterance.start_sample
        return LatencyRecord(
            session_id=self.session_id,
            utterance_id=utterance.id,
            state=utterance.state.value,
            capture_ms=ms(samples / SAMPLE_RATE),
            endpoint_ms=latency.get("endpoint_ms", 0),
            queue_ms=ms(result.started_at - request.created_at) if result and request else 0,
            stt_ms=latency.get("stt_ms", 0),
            total_ms=latency.get("total_ms", 0),
            frames=samples // self._window,
            bytes=samples * 4,
            frames_dropped=self.frames_dropped - utterance.dropped_at_start,
            source=_source(result),
            model=self.model,
            speculative_hit=bool(request and request.speculative),
            fallback_strategy=utterance.fallback_strategy,
            queue_pressure=round(self.queue_pressure, 3),
            turn=utterance.turn_cue or utterance.end_reason,
            speaker_wait_ms=ms(result.embedding_wait_s) if result and self._speakers else None,
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


def _source(result: DecodeResult | None) -> str:
    if result is None or result.transcript is None:
        return "none"
    return result.transcript.metadata.provider
