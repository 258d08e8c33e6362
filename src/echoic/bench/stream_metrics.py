"""Streaming latency arithmetic (EVAL.md, "Streaming latency"): pure functions over recorded events.

A session is fed from ``t0``; the audio at ``x`` seconds counts as sent at ``t0 + x`` (real-time
pacing) or when its chunk was actually handed over (as-fast-as-possible pacing, see
:class:`SendTimes`). Every event was recorded with its arrival time, in seconds after ``t0``.

Each ``final`` is attributed to the reference utterance its audio span overlaps most; a final that
overlaps none was emitted in a gap (its words are hallucinations or stray noise). Per reference:

- first draft = first non-empty ``partial`` of its utterance(s) − sent(speech_start_s);
- final = the (last) ``final`` − sent(speech_end_s): what a user waits after they stop talking;
- final text = the first event (``partial`` or ``final``) of its utterance whose text is the final
  text − sent(speech_end_s). With several finals (the utterance was split) the last one counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from echoic.bench.text import normalize
from echoic.streaming.events import Event, EventType


@dataclass(frozen=True, kw_only=True)
class Reference:
    """One spoken utterance of a session, from the session's sidecar JSON."""

    id: str
    speech_start_s: float
    speech_end_s: float
    text: str


@dataclass(frozen=True, kw_only=True)
class Received:
    """An event and when it arrived, in seconds after ``t0`` (the first chunk was sent)."""

    at_s: float
    event: Event

    @property
    def type(self) -> EventType:
        return self.event.type

    @property
    def utterance_id(self) -> int | None:
        value = self.event.data.get("utterance_id")
        return value if isinstance(value, int) else None

    @property
    def text(self) -> str:
        return str(self.event.data.get("text") or "").strip()

    def to_dict(self) -> dict[str, Any]:
        """The event as the client saw it, without the bulky per-word timings."""
        data = {k: v for k, v in self.event.to_dict().items() if k not in ("words", "segments")}
        return {"at_s": round(self.at_s, 4), **data}


@dataclass(frozen=True, kw_only=True)
class SendTimes:
    """When the audio at a given second was sent, in seconds after ``t0``.

    ``chunk_sent_s`` is ``None`` for real-time pacing: audio time ``x`` was sent at ``x`` (EVAL.md).
    Otherwise it holds when each chunk of ``chunk_s`` seconds was handed to the stream.
    """

    chunk_s: float
    chunk_sent_s: tuple[float, ...] | None = None

    def sent_at(self, audio_s: float) -> float:
        if self.chunk_sent_s is None:
            return audio_s
        if not self.chunk_sent_s:
            raise ValueError("no chunk was sent")
        index = min(max(0, int(audio_s / self.chunk_s)), len(self.chunk_sent_s) - 1)
        return self.chunk_sent_s[index]


@dataclass(frozen=True, kw_only=True)
class FinalSpan:
    """A ``final`` event, placed against the references."""

    received: Received
    audio_start_s: float
    audio_end_s: float
    #: Index of the reference it overlaps most; ``None``: it lies in a gap.
    reference: int | None
    #: How many references it overlaps (> 1: the endpointer merged utterances).
    overlapped: int

    @property
    def text(self) -> str:
        return self.received.text

    @property
    def words(self) -> int:
        """Words after normalization (what WER would count)."""
        return len(normalize(self.text).split())


@dataclass(frozen=True, kw_only=True)
class UtteranceLatency:
    """Latencies (seconds) of one reference utterance; ``None`` where no event qualified."""

    reference: Reference
    finals: int
    utterance_ids: tuple[int, ...]
    text: str
    first_draft_s: float | None
    final_s: float | None
    final_text_s: float | None
    drafts: int
    #: The (last) final's own ``latency`` field: stt_ms, endpoint_ms, total_ms.
    latency_ms: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference_id": self.reference.id,
            "speech_start_s": self.reference.speech_start_s,
            "speech_end_s": self.reference.speech_end_s,
            "finals": self.finals,
            "utterance_ids": list(self.utterance_ids),
            "drafts": self.drafts,
            "first_draft_s": _round(self.first_draft_s),
            "final_s": _round(self.final_s),
            "final_text_s": _round(self.final_text_s),
            **self.latency_ms,
            "text": self.text,
            "reference_text": self.reference.text,
        }


@dataclass(frozen=True, kw_only=True)
class Spread:
    """P50 / P95 / max of a sample (numpy's linear percentiles); all ``None`` when it is empty."""

    n: int
    p50: float | None
    p95: float | None
    max: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "p50": _round(self.p50),
            "p95": _round(self.p95),
            "max": _round(self.max),
        }


def spread(values: Iterable[float | None]) -> Spread:
    """Percentiles of the values that are not ``None``."""
    sample = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if sample.size == 0:
        return Spread(n=0, p50=None, p95=None, max=None)
    p50, p95 = np.percentile(sample, [50, 95], method="linear")
    return Spread(n=int(sample.size), p50=float(p50), p95=float(p95), max=float(sample.max()))


def overlap_s(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    return max(0.0, min(a_end, b_end) - max(a_start, b_start))


def place_finals(references: Sequence[Reference], events: Iterable[Received]) -> list[FinalSpan]:
    """Attribute every ``final`` to the reference it overlaps most (ties: the earlier one)."""
    spans: list[FinalSpan] = []
    for received in events:
        if received.type is not EventType.FINAL:
            continue
        start = float(received.event.data["audio_start_s"])
        end = float(received.event.data["audio_end_s"])
        overlaps = [overlap_s(start, end, r.speech_start_s, r.speech_end_s) for r in references]
        best = max(range(len(overlaps)), key=lambda i: (overlaps[i], -i), default=None)
        if best is not None and overlaps[best] <= 0:
            best = None
        spans.append(
            FinalSpan(
                received=received,
                audio_start_s=start,
                audio_end_s=end,
                reference=best,
                overlapped=sum(1 for o in overlaps if o > 0),
            )
        )
    return spans


def utterance_latencies(
    references: Sequence[Reference],
    events: Sequence[Received],
    send: SendTimes,
    spans: Sequence[FinalSpan] | None = None,
) -> list[UtteranceLatency]:
    """One row per reference, in reference order (see the module docstring for the rules)."""
    spans = place_finals(references, events) if spans is None else spans
    by_utterance: dict[int, list[Received]] = {}
    for received in events:
        if received.utterance_id is not None:
            by_utterance.setdefault(received.utterance_id, []).append(received)
    rows: list[UtteranceLatency] = []
    for index, ref in enumerate(references):
        mine = [s for s in spans if s.reference == index]
        ids = tuple(i for s in mine if (i := s.received.utterance_id) is not None)
        partials = [
            r
            for i in ids
            for r in by_utterance.get(i, [])
            if r.type is EventType.PARTIAL and r.text
        ]
        first_draft = min((r.at_s for r in partials), default=None)
        final_at = max((s.received.at_s for s in mine), default=None)
        text_at = [_first_with_text(_events_of(s, by_utterance), s.received) for s in mine]
        end_sent = send.sent_at(ref.speech_end_s)
        last = max(mine, key=lambda s: s.received.at_s, default=None)
        latency = last.received.event.data.get("latency") if last is not None else None
        rows.append(
            UtteranceLatency(
                reference=ref,
                finals=len(mine),
                utterance_ids=ids,
                text=" ".join(s.text for s in mine if s.text),
                first_draft_s=None
                if first_draft is None
                else first_draft - send.sent_at(ref.speech_start_s),
                final_s=None if final_at is None else final_at - end_sent,
                final_text_s=max(text_at) - end_sent if text_at else None,
                drafts=len(partials),
                latency_ms=dict(latency) if isinstance(latency, Mapping) else {},
            )
        )
    return rows


def _events_of(span: FinalSpan, by_utterance: Mapping[int, list[Received]]) -> list[Received]:
    utterance_id = span.received.utterance_id
    return by_utterance.get(utterance_id, []) if utterance_id is not None else [span.received]


def _first_with_text(events: Sequence[Received], final: Received) -> float:
    """Arrival of the first partial or final with the final's text (at the latest, the final)."""
    for received in events:
        if received.at_s > final.at_s:
            break
        if received.type in (EventType.PARTIAL, EventType.FINAL) and received.text == final.text:
            return received.at_s
    return final.at_s


def gap_finals(spans: Iterable[FinalSpan]) -> list[FinalSpan]:
    """Finals that overlap no reference and say something: words emitted between utterances."""
    return [s for s in spans if s.reference is None and s.words > 0]


@dataclass(frozen=True, kw_only=True)
class MatchCounts:
    """How references and finals line up in one session (or summed over several)."""

    references: int = 0
    one_final: int = 0
    no_final: int = 0
    several_finals: int = 0
    #: Finals that overlap more than one reference (the endpointer merged two utterances).
    merged_finals: int = 0
    gap_finals: int = 0
    gap_words: int = 0

    def __add__(self, other: MatchCounts) -> MatchCounts:
        return MatchCounts(
            **{k: getattr(self, k) + getattr(other, k) for k in self.to_dict()},
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "references": self.references,
            "one_final": self.one_final,
            "no_final": self.no_final,
            "several_finals": self.several_finals,
            "merged_finals": self.merged_finals,
            "gap_finals": self.gap_finals,
            "gap_words": self.gap_words,
        }


def match_counts(rows: Sequence[UtteranceLatency], spans: Sequence[FinalSpan]) -> MatchCounts:
    gaps = gap_finals(spans)
    return MatchCounts(
        references=len(rows),
        one_final=sum(1 for r in rows if r.finals == 1),
        no_final=sum(1 for r in rows if r.finals == 0),
        several_finals=sum(1 for r in rows if r.finals > 1),
        merged_finals=sum(1 for s in spans if s.overlapped > 1),
        gap_finals=len(gaps),
        gap_words=sum(s.words for s in gaps),
    )


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)
