"""Partials of the open utterance: drafts and, in dual-model mode, confirmations (DESIGN.md §3).

Drafts re-decode the open utterance with the fast model while it is spoken, one at a time, every
``draft_interval_ms``; confirmations re-decode it with the confirming model every
``confirm_interval_ms`` and correct the drafts shown before them. Each shown one is a
``partial`` event. Pure: the session passes in the open utterance, how far the VAD has read and
its state; the requests go out through the session's :class:`DecodeWindows`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from echoic.errors import SupersededError
from echoic.streaming.config import StreamConfig
from echoic.streaming.decoding import DecodeKind, DecodeRequest, DecodeResult, Output
from echoic.streaming.events import Event, EventStamper, EventType
from echoic.streaming.fallbacks import fallback_events
from echoic.streaming.finals import seconds
from echoic.streaming.utterance import Utterance, UtteranceState
from echoic.streaming.windows import DecodeWindows
from echoic.types import SAMPLE_RATE, Transcript
from echoic.vad.state import VadState


class Partials:
    def __init__(
        self, config: StreamConfig, stamp: EventStamper, windows: DecodeWindows, *, model: str
    ) -> None:
        self.config = config
        self.model = model
        self._stamp = stamp
        self._windows = windows
        #: Where the newest draft's audio ended (the start of the utterance before its first).
        self.last_draft_end = 0

    def on_resumed(self, utterance: Utterance, now: float) -> Output:
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
            self._windows.cancel(stale.id, out)
            return out
        as_confirm = replace(stale, kind=DecodeKind.CONFIRM, speculative=False)
        if answered is not None:
            out.extend(self.on_confirm(as_confirm, utterance, answered, now))
        else:
            self._windows.inflight[stale.id] = (as_confirm, utterance)
            utterance.confirm_inflight = stale.id
        return out

    def maybe_confirm(
        self, utterance: Utterance | None, end: int, vad_state: VadState, now: float
    ) -> Output:
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
            or vad_state is VadState.STOPPING
        ):
            return Output()
        if (end - utterance.last_confirm_end) * 1000 // SAMPLE_RATE < interval:
            return Output()
        request = self._windows.request(utterance, DecodeKind.CONFIRM, end, now)
        utterance.confirm_inflight = request.id
        utterance.last_confirm_end = end
        return Output(requests=[request])

    def on_confirm(
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
        out = fallback_events(self._stamp, utterance, result.transcript.metadata.fallback, now)
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

    def maybe_draft(
        self, utterance: Utterance | None, end: int, vad_state: VadState, now: float
    ) -> Output:
        cfg = self.config
        if (
            utterance is None
            or not cfg.interim_results
            or cfg.client_transcripts
            or self._windows.draft_inflight is not None
            or utterance.speculative is not None
        ):
            return Output()
        buffered_ms = (end - utterance.start_sample) * 1000 // SAMPLE_RATE
        new_ms = (end - self.last_draft_end) * 1000 // SAMPLE_RATE
        drafted = self.last_draft_end > utterance.start_sample  # shown or not (empty, failed)
        if buffered_ms < cfg.draft_min_ms or (drafted and new_ms < cfg.draft_interval_ms):
            return Output()
        if utterance.last_shown_window >= 0 and vad_state is VadState.STOPPING:
            # Trailing silence: the text shown already holds every word and the final decode is
            # about to start; another draft would only take its CPU.
            return Output()
        request = self._windows.request(utterance, DecodeKind.DRAFT, end, now)
        self._windows.draft_inflight = request.id
        self.last_draft_end = end
        return Output(requests=[request])

    def on_draft(
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
            warning = self._stamp(EventType.WARNING, now, code="draft_failed", detail=detail)
            return Output(events=[warning])
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
