"""What a live stream asks its engines for, and what comes back (the session's outputs).

The pure :class:`~echoic.streaming.session.StreamSession` emits :class:`DecodeRequest` objects in
an :class:`Output`; the runner has them decoded (through the shared scheduler) and hands the
:class:`DecodeResult` back. One :class:`LatencyRecord` per utterance is logged as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from echoic.errors import EchoicError
from echoic.streaming.events import Event
from echoic.types import Audio, TranscribeOptions, Transcript


class DecodeKind(StrEnum):
    DRAFT = "draft"  # fast model, the open utterance so far
    CONFIRM = "confirm"  # confirming model, the open utterance so far (dual-model mode)
    FINAL = "final"  # confirming model, the ended utterance


@dataclass(frozen=True, kw_only=True)
class DecodeRequest:
    id: int  # the window id: monotonic per session, assigned before the decode starts
    session_id: str
    utterance_id: int
    kind: DecodeKind
    audio: Audio
    start_sample: int
    end_sample: int
    options: TranscribeOptions
    speculative: bool = False
    #: Dual-model mode: a final the drafting model makes (its drafts were confident enough to
    #: skip the heavy pass; ``StreamConfig.skip_confirm_logprob``).
    fast: bool = False
    created_at: float = 0.0


@dataclass(frozen=True, kw_only=True)
class DecodeResult:
    request_id: int
    transcript: Transcript | None = None
    error: EchoicError | None = None
    started_at: float = 0.0
    finished_at: float = 0.0
    #: A final's voice embedding, computed beside the decode when the stream diarizes
    #: (:meth:`~echoic.diarize.diarizer.Diarizer.embed_speech`; ``None``: too short, or off).
    embedding: npt.NDArray[np.float32] | None = None
    #: How long the result waited for ``embedding`` after the decode had answered.
    embedding_wait_s: float = 0.0


@dataclass(frozen=True, kw_only=True)
class LatencyRecord:
    """One line per utterance (DESIGN.md §3): logged as JSON and exported as metrics."""

    session_id: str
    utterance_id: int
    state: str
    capture_ms: int
    endpoint_ms: int
    queue_ms: int
    stt_ms: int
    total_ms: int
    frames: int
    bytes: int
    frames_dropped: int
    source: str
    model: str
    speculative_hit: bool
    fallback_strategy: str | None = None
    queue_pressure: float = 0.0
    #: What ended it: the words' cue (``sentence_end``, ``unknown``, ``mid_sentence``) when end
    #: of turn ended it before the longest silence; otherwise its ``end_reason``.
    turn: str | None = None
    #: Diarizing streams: how long the final waited for its voice embedding once decoded (the
    #: two run side by side, so this is 0 unless the embedding was the slower).
    speaker_wait_ms: int | None = None


@dataclass
class Output:
    events: list[Event] = field(default_factory=list)
    requests: list[DecodeRequest] = field(default_factory=list)
    #: Requests whose results are no longer wanted (the runner may drop them if not started).
    cancelled: list[int] = field(default_factory=list)
    records: list[LatencyRecord] = field(default_factory=list)

    def extend(self, other: Output) -> None:
        self.events += other.events
        self.requests += other.requests
        self.cancelled += other.cancelled
        self.records += other.records
