"""Endpointing: from per-window speech probabilities to utterances, in audio-sample time.

A pure state machine (no I/O, no clock): positions are absolute sample indices at 16 kHz, so the
events name exactly the audio to transcribe, ``[start_sample, end_sample)``, in the stream's
ring buffer.

            p ≥ threshold              speech ≥ min_speech_ms: SpeechStarted
    QUIET ─────────────────► STARTING ───────────────────────────────────► SPEAKING
     ▲  ▲   p < neg_threshold    │                                            │    ▲
     │  └────────────────────────┘                         p < neg_threshold  │    │ p ≥ threshold
     │                                                                        ▼    │ SpeechResumed
     └────────────── silence ≥ silence_ms: SpeechEnded ─────────────────── STOPPING   (if paused)
                          (silence ≥ speculative_silence_ms: SpeechPaused, once)

Between ``neg_threshold`` and ``threshold`` (the hysteresis band) a window keeps the current
state: it counts as speech while starting or speaking and as silence while stopping. An
utterance that reaches ``max_utterance_s`` is cut there (``SpeechEnded("max_duration")``) and,
if speech goes on, a new one starts at the same sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from echoic.types import SAMPLE_RATE
from echoic.vad.detector import WINDOW_SAMPLES

_SAMPLES_PER_MS = SAMPLE_RATE // 1000  # 16

EndReason = Literal["silence", "max_duration", "finalize"]


class VadState(StrEnum):
    QUIET = "quiet"
    STARTING = "starting"  # speech seen, not yet long enough to be an utterance
    SPEAKING = "speaking"
    STOPPING = "stopping"  # trailing silence, not yet long enough to end the utterance


@dataclass(frozen=True, kw_only=True)
class VadConfig:
    """How speech turns into utterances. Durations are rounded to whole samples at 16 kHz.

    ``tail_ms`` of the trailing silence stay in the utterance (word endings fade below the
    threshold). ``speculative_silence_ms`` is when a final decode may start early; set it equal to
    ``silence_ms`` to turn speculation off. It may not be shorter than ``tail_ms``, so the audio a
    :class:`SpeechPaused` names is exactly the audio the following :class:`SpeechEnded` names.

    End of turn from the words (:mod:`echoic.streaming.turn`): ``silence_ms`` ends an utterance
    whose words do not tell whether it is over; ``end_of_sentence_ms`` one whose newest hypothesis
    ends a sentence, ``mid_sentence_ms`` one that stops mid-sentence (``None``: ``silence_ms``,
    silence alone). The endpointer itself ends an utterance at the longest of the three; the
    stream ends it sooner through :meth:`Endpointer.end_turn`.
    """

    threshold: float = 0.5
    neg_threshold: float | None = None  # None: threshold - 0.15 (at least 0.01), as Silero does
    min_speech_ms: int = 200
    silence_ms: int = 500
    end_of_sentence_ms: int | None = None
    mid_sentence_ms: int | None = None
    speculative_silence_ms: int = 200
    tail_ms: int = 100
    max_utterance_s: float = 30.0
    pre_roll_ms: int = 300
    window_samples: int = WINDOW_SAMPLES

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be between 0 and 1, got {self.threshold}")
        if self.neg_threshold is not None and not 0 <= self.neg_threshold <= self.threshold:
            raise ValueError(
                f"neg_threshold must be between 0 and threshold ({self.threshold}), "
                f"got {self.neg_threshold}"
            )
        for name in ("min_speech_ms", "tail_ms", "pre_roll_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.silence_ms <= 0:
            raise ValueError(f"silence_ms must be positive, got {self.silence_ms}")
        if not self.sentence_end_ms <= self.silence_ms <= self.mid_sentence_silence_ms:
            raise ValueError(
                "expected end_of_sentence_ms <= silence_ms <= mid_sentence_ms, got "
                f"{self.sentence_end_ms} <= {self.silence_ms} <= {self.mid_sentence_silence_ms}"
            )
        if not self.tail_ms <= self.speculative_silence_ms <= self.sentence_end_ms:
            raise ValueError(
                "expected tail_ms <= speculative_silence_ms <= end_of_sentence_ms (or silence_ms),"
                f" got {self.tail_ms} <= {self.speculative_silence_ms} <= {self.sentence_end_ms}"
            )
        if self.window_samples <= 0:
            raise ValueError(f"window_samples must be positive, got {self.window_samples}")
        shortest = self.pre_roll_samples + self.min_speech_samples + self.window_samples
        if not math.isfinite(self.max_utterance_s) or self.max_utterance_samples <= shortest:
            raise ValueError(
                f"max_utterance_s must exceed pre-roll + minimum speech + one window "
                f"({shortest / SAMPLE_RATE:.3f} s), got {self.max_utterance_s}"
            )

    @property
    def effective_neg_threshold(self) -> float:
        if self.neg_threshold is not None:
            return self.neg_threshold
        return max(self.threshold - 0.15, 0.01)

    @property
    def min_speech_samples(self) -> int:
        return self.min_speech_ms * _SAMPLES_PER_MS

    @property
    def sentence_end_ms(self) -> int:
        """Silence that ends an utterance whose words end a sentence."""
        return self.silence_ms if self.end_of_sentence_ms is None else self.end_of_sentence_ms

    @property
    def mid_sentence_silence_ms(self) -> int:
        """Silence that ends an utterance stopped mid-sentence: the longest wait."""
        return self.silence_ms if self.mid_sentence_ms is None else self.mid_sentence_ms

    @property
    def silence_samples(self) -> int:
        """Silence after which the endpointer ends an utterance by itself: the longest wait."""
        return self.mid_sentence_silence_ms * _SAMPLES_PER_MS

    @property
    def speculative_silence_samples(self) -> int:
        return self.speculative_silence_ms * _SAMPLES_PER_MS

    @property
    def tail_samples(self) -> int:
        return self.tail_ms * _SAMPLES_PER_MS

    @property
    def pre_roll_samples(self) -> int:
        return self.pre_roll_ms * _SAMPLES_PER_MS

    @property
    def max_utterance_samples(self) -> int:
        if not math.isfinite(self.max_utterance_s):
            return 0
        return round(self.max_utterance_s * SAMPLE_RATE)


@dataclass(frozen=True, kw_only=True)
class SpeechStarted:
    """An utterance begins at ``start_sample`` (pre-roll included); seen at ``detected_sample``.

    ``start_sample`` is never before 0 nor before the previous utterance's end.
    """

    start_sample: int
    detected_sample: int


@dataclass(frozen=True, kw_only=True)
class SpeechPaused:
    """Trailing silence reached ``speculative_silence_ms``: a final decode may start now.

    If the silence lasts, the utterance will end at ``end_sample``; a :class:`SpeechResumed`
    makes a decode started here stale.
    """

    at_sample: int
    silence_start_sample: int
    end_sample: int


@dataclass(frozen=True, kw_only=True)
class SpeechResumed:
    """Speech came back after a :class:`SpeechPaused`; the utterance goes on."""

    at_sample: int


@dataclass(frozen=True, kw_only=True)
class SpeechEnded:
    """The open utterance ends at ``end_sample`` (exclusive); decided at ``detected_sample``."""

    end_sample: int
    reason: EndReason
    detected_sample: int


VadEvent = SpeechStarted | SpeechPaused | SpeechResumed | SpeechEnded


class Endpointer:
    """Turns one stream's window probabilities into utterance events.

    Call ``push`` once per window, in stream order, with the window's speech probability and the
    absolute index just past its last sample.
    """

    def __init__(self, config: VadConfig | None = None) -> None:
        self.config = config or VadConfig()
        self._neg_threshold = self.config.effective_neg_threshold
        self.reset()

    def reset(self) -> None:
        """Start a new stream: quiet, at sample 0, with no utterance behind."""
        self.state = VadState.QUIET
        self._last_sample = 0  # window_end_sample of the last push
        self._previous_end = 0  # end of the last utterance: pre-roll never reaches before it
        self._candidate_start = 0  # STARTING: where the first speech window began
        self._start = 0  # SPEAKING/STOPPING: the open utterance's start_sample
        self._silence_start = 0  # STOPPING: where the trailing silence began
        self._paused = False  # STOPPING: SpeechPaused has been emitted

    def push(self, probability: float, window_end_sample: int) -> list[VadEvent]:
        """Advance by one window ending at ``window_end_sample``; return the events it caused.

        Window ends must increase; a jump larger than one window (audio dropped upstream) is
        taken as more of the current state.
        """
        if not 0.0 <= probability <= 1.0:  # NaN fails this too
            raise ValueError(f"probability must be in [0, 1], got {probability}")
        if window_end_sample <= self._last_sample:
            raise ValueError(
                f"expected window_end_sample > {self._last_sample}, found {window_end_sample}"
            )
        self._last_sample = window_end_sample
        window_start = max(0, window_end_sample - self.config.window_samples)
        is_speech = probability >= self.config.threshold
        is_silence = probability < self._neg_threshold
        events: list[VadEvent] = []

        if self.state is VadState.QUIET and is_speech:
            self.state = VadState.STARTING
            self._candidate_start = max(window_start, self._previous_end)
        elif self.state is VadState.STARTING and is_silence:
            self.state = VadState.QUIET  # a blip: no events
        elif self.state is VadState.SPEAKING and is_silence:
            self.state = VadState.STOPPING
            self._silence_start = max(window_start, self._start)
            self._paused = False
        elif self.state is VadState.STOPPING:
            if is_speech:
                self.state = VadState.SPEAKING
                if self._paused:
                    events.append(SpeechResumed(at_sample=window_end_sample))
            else:
                events.extend(self._trailing_silence(window_end_sample))

        if (
            self.state is VadState.STARTING
            and window_end_sample - self._candidate_start >= self.config.min_speech_samples
        ):
            self.state = VadState.SPEAKING
            self._start = max(
                self._candidate_start - self.config.pre_roll_samples, self._previous_end
            )
            events.append(
                SpeechStarted(start_sample=self._start, detected_sample=window_end_sample)
            )
        if self.state in (VadState.SPEAKING, VadState.STOPPING):
            events.extend(self._split_long(window_end_sample))
        return events

    def finalize(self, at_sample: int) -> list[VadEvent]:
        """End the open utterance now (push-to-talk released); nothing if none is open.

        Speech still shorter than ``min_speech_ms`` is dropped, as it would be otherwise. In
        trailing silence the utterance ends where it would have ended on silence.
        """
        if at_sample < self._last_sample:
            raise ValueError(f"expected at_sample >= {self._last_sample}, found {at_sample}")
        if self.state is VadState.SPEAKING:
            return [self._end(at_sample, "finalize", at_sample)]
        if self.state is VadState.STOPPING:
            return [self._end(self._silence_end(at_sample), "finalize", at_sample)]
        self.state = VadState.QUIET
        return []

    @property
    def trailing_silence_samples(self) -> int:
        """How long the open utterance's trailing silence has lasted (0 unless stopping)."""
        if self.state is not VadState.STOPPING:
            return 0
        return self._last_sample - self._silence_start

    def end_turn(self) -> list[VadEvent]:
        """End the open utterance in trailing silence now, where the silence would have ended it
        (the words say the turn is over); nothing unless stopping."""
        if self.state is not VadState.STOPPING:
            return []
        return [self._end(self._silence_end(self._last_sample), "silence", self._last_sample)]

    def _trailing_silence(self, now: int) -> list[VadEvent]:
        silence = now - self._silence_start
        if silence >= self.config.silence_samples:
            return [self._end(self._silence_end(now), "silence", now)]
        if silence >= self.config.speculative_silence_samples and not self._paused:
            self._paused = True
            return [
                SpeechPaused(
                    at_sample=now,
                    silence_start_sample=self._silence_start,
                    end_sample=self._silence_end(now),
                )
            ]
        return []

    def _split_long(self, now: int) -> list[VadEvent]:
        """Cut the open utterance every ``max_utterance_s`` (more than once only after a gap)."""
        events: list[VadEvent] = []
        limit = self.config.max_utterance_samples
        # Strictly past the limit: a continuation starts with audio in it, never empty.
        while self.state is not VadState.QUIET and now - self._start > limit:
            cut = self._start + limit
            if self.state is VadState.STOPPING:
                # Already in trailing silence: end where the speech ended, and wait for more.
                events.append(self._end(min(self._silence_end(now), cut), "max_duration", now))
            else:
                events.append(self._end(cut, "max_duration", now))
                self.state = VadState.SPEAKING
                self._start = cut
                events.append(SpeechStarted(start_sample=cut, detected_sample=now))
        return events

    def _silence_end(self, now: int) -> int:
        return min(self._silence_start + self.config.tail_samples, now)

    def _end(self, end_sample: int, reason: EndReason, now: int) -> SpeechEnded:
        self.state = VadState.QUIET
        self._previous_end = end_sample
        self._paused = False
        return SpeechEnded(end_sample=end_sample, reason=reason, detected_sample=now)
