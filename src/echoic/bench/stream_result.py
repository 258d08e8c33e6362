"""What ``echoic bench stream`` found: per session run, per batch run, and over all of them.

Every figure is computed from the recorded events (:mod:`echoic.bench.stream_metrics`) when
asked for, so the JSON report and the table cannot disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from echoic.bench.machine import MachineInfo
from echoic.bench.stream_metrics import (
    FinalSpan,
    MatchCounts,
    Received,
    Reference,
    SendTimes,
    Spread,
    UtteranceLatency,
    spread,
)
from echoic.bench.text import WordCounts, total
from echoic.streaming.config import StreamConfig
from echoic.streaming.events import EventType
from echoic.streaming.scheduler import SchedulerStats
from echoic.types import TranscribeOptions

#: The fields of the runner's per-utterance latency records that the report breaks down.
LATENCY_KEYS = ("endpoint_ms", "queue_ms", "stt_ms", "total_ms")


@dataclass(frozen=True, kw_only=True)
class SessionRun:
    """One pass of one session through a live stream."""

    session: str
    repeat: int
    audio_s: float
    realtime: bool
    #: t0 → the ``end`` event.
    wall_s: float
    cpu_s: float
    events: tuple[Received, ...]
    send: SendTimes
    references: tuple[Reference, ...]
    spans: tuple[FinalSpan, ...]
    utterances: tuple[UtteranceLatency, ...]
    matches: MatchCounts
    #: The runner's per-utterance latency log lines (queue_ms, speculative_hit, …).
    records: tuple[dict[str, Any], ...]
    scheduler: SchedulerStats
    frames_dropped: int
    text: str  # the finals, joined
    reference_text: str
    counts: WordCounts
    #: Why the runner gave up on the stream (it could not keep up), if it did.
    aborted: str | None = None

    @property
    def cpu_per_audio_s(self) -> float:
        return self.cpu_s / self.audio_s if self.audio_s > 0 else 0.0

    @property
    def partials(self) -> int:
        return sum(1 for r in self.events if r.type is EventType.PARTIAL)

    def record_of(self, utterance: UtteranceLatency) -> dict[str, Any]:
        """Queueing and speculation of the utterance's (last) final, from the runner's record."""
        if not utterance.utterance_ids:
            return {}
        last = utterance.utterance_ids[-1]
        for record in self.records:
            if record.get("utterance_id") == last:
                return {k: record[k] for k in ("queue_ms", "speculative_hit") if k in record}
        return {}

    def latency_spread(self, key: str) -> Spread:
        """P50/P95/max of one field of the finals' ``latency`` (stt_ms, endpoint_ms, …)."""
        return spread(_latency_values(self.records, self.spans, key))

    def to_dict(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "repeat": self.repeat,
            "audio_s": round(self.audio_s, 3),
            "wall_s": round(self.wall_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "cpu_per_audio_s": round(self.cpu_per_audio_s, 4),
            "frames_dropped": self.frames_dropped,
            "aborted": self.aborted,
            "partials": self.partials,
            "scheduler": asdict(self.scheduler),
            "matches": self.matches.to_dict(),
            "latency": {
                "first_draft_s": spread(u.first_draft_s for u in self.utterances).to_dict(),
                "final_s": spread(u.final_s for u in self.utterances).to_dict(),
                "final_text_s": spread(u.final_text_s for u in self.utterances).to_dict(),
                **{f"{k}": self.latency_spread(k).to_dict() for k in LATENCY_KEYS},
            },
            "wer": self.counts.to_dict(),
            "text": self.text,
            "reference_text": self.reference_text,
            "gap_finals": [
                {
                    "utterance_id": s.received.utterance_id,
                    "audio_start_s": s.audio_start_s,
                    "audio_end_s": s.audio_end_s,
                    "text": s.text,
                }
                for s in self.spans
                if s.reference is None
            ],
            "records": list(self.records),
            "events": [r.to_dict() for r in self.events],
        }


@dataclass(frozen=True, kw_only=True)
class BatchRun:
    session: str
    text: str
    seconds: float
    counts: WordCounts


@dataclass(frozen=True, kw_only=True)
class StreamBenchResult:
    #: The drafting model (in single-model mode, the only one).
    model: str
    #: Dual-model mode: the model that confirmed and finalized; ``None``: single-model mode.
    confirm_model: str | None = None
    #: The language the streams decoded in (``None``: detected per decode).
    language: str | None = None
    realtime: bool
    chunk_ms: int
    stream: StreamConfig
    batch_options: TranscribeOptions
    machine: MachineInfo
    created_at: str
    runs: tuple[SessionRun, ...]
    batch: tuple[BatchRun, ...]
    peak_rss_mb: float

    kind: ClassVar[str] = "stream"

    @property
    def label(self) -> str:
        return f"{self.model} → {self.confirm_model}" if self.confirm_model else self.model

    @property
    def first_draft(self) -> Spread:
        return self.latency("first_draft_s")

    @property
    def final(self) -> Spread:
        return self.latency("final_s")

    @property
    def utterances(self) -> list[tuple[SessionRun, UtteranceLatency]]:
        return [(run, u) for run in self.runs for u in run.utterances]

    def latency(self, metric: str) -> Spread:
        """``first_draft_s``, ``final_s`` or ``final_text_s`` over every utterance of every run."""
        return spread(getattr(u, metric) for _, u in self.utterances)

    def breakdown(self, key: str) -> Spread:
        """One field of the finals' latency records (ms) over every run."""
        return spread(v for run in self.runs for v in _latency_values(run.records, run.spans, key))

    @property
    def matches(self) -> MatchCounts:
        return sum((run.matches for run in self.runs), MatchCounts())

    @property
    def streaming_counts(self) -> WordCounts:
        return total(run.counts for run in self.runs)

    @property
    def batch_counts(self) -> WordCounts | None:
        return total(b.counts for b in self.batch) if self.batch else None

    @property
    def penalty(self) -> float | None:
        """Streaming WER − batch WER, as a fraction (× 100 for points)."""
        batch = self.batch_counts
        return None if batch is None else self.streaming_counts.wer - batch.wer

    @property
    def audio_s(self) -> float:
        return sum(run.audio_s for run in self.runs)

    @property
    def cpu_per_audio_s(self) -> float:
        audio = self.audio_s
        return sum(run.cpu_s for run in self.runs) / audio if audio > 0 else 0.0

    @property
    def frames_dropped(self) -> int:
        return sum(run.frames_dropped for run in self.runs)

    @property
    def scheduler(self) -> SchedulerStats:
        out = SchedulerStats()
        for run in self.runs:
            out = stats_sum(out, run.scheduler)
        return out

    def to_dict(self) -> dict[str, Any]:
        batch = self.batch_counts
        return {
            "kind": self.kind,
            "model": self.model,
            "confirm_model": self.confirm_model,
            "stream_mode": "speculative" if self.confirm_model else "single",
            "language": self.language,
            "created_at": self.created_at,
            "mode": "realtime" if self.realtime else "fast",
            "chunk_ms": self.chunk_ms,
            "machine": self.machine.to_dict(),
            "stream_config": asdict(self.stream),
            "batch_options": asdict(self.batch_options),
            "memory": {"peak_rss_mb": self.peak_rss_mb},
            "summary": {
                "utterances": len(self.utterances),
                "audio_s": round(self.audio_s, 3),
                "latency_s": {
                    m: self.latency(m).to_dict()
                    for m in ("first_draft_s", "final_s", "final_text_s")
                },
                "breakdown_ms": {k: self.breakdown(k).to_dict() for k in LATENCY_KEYS},
                "matches": self.matches.to_dict(),
                "wer": {
                    "streaming": self.streaming_counts.to_dict(),
                    "batch": None if batch is None else batch.to_dict(),
                    "penalty_points": None if self.penalty is None else self.penalty * 100,
                },
                "frames_dropped": self.frames_dropped,
                "cpu_per_audio_s": round(self.cpu_per_audio_s, 4),
                "scheduler": asdict(self.scheduler),
            },
            "utterances": [
                {"session": run.session, "repeat": run.repeat, **u.to_dict(), **run.record_of(u)}
                for run, u in self.utterances
            ],
            "sessions": [run.to_dict() for run in self.runs],
            "batch": [
                {
                    "session": b.session,
                    "seconds": round(b.seconds, 3),
                    "text": b.text,
                    **b.counts.to_dict(),
                }
                for b in self.batch
            ],
        }


def _latency_values(
    records: tuple[dict[str, Any], ...], spans: tuple[FinalSpan, ...], key: str
) -> list[float]:
    """``key`` of every utterance that got a final: from the runner's records when logged
    (they carry ``queue_ms`` too), else from the final events' ``latency``."""
    done = [r for r in records if r.get("state") == "done" and key in r]
    if done:
        return [float(r[key]) for r in done]
    values: list[float] = []
    for s in spans:
        latency = s.received.event.data.get("latency")
        if isinstance(latency, dict) and key in latency:
            values.append(float(latency[key]))
    return values


def stats_sum(a: SchedulerStats, b: SchedulerStats) -> SchedulerStats:
    return SchedulerStats(**{k: getattr(a, k) + getattr(b, k) for k in asdict(a)})


def stats_delta(after: SchedulerStats, before: SchedulerStats) -> SchedulerStats:
    return SchedulerStats(**{k: getattr(after, k) - getattr(before, k) for k in asdict(after)})
