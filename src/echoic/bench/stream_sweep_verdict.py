"""The pure half of ``echoic bench stream --concurrency``: what one level of the sweep measured,
pooled over its streams, and whether it holds (:func:`judge`, :func:`largest_holding`; the
criteria are in :mod:`echoic.bench.stream_sweep`'s docstring)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from echoic.bench.stream_metrics import Spread, UtteranceLatency, spread


@dataclass(frozen=True, kw_only=True)
class SweepCriteria:
    """When a level of the sweep holds (see the module docstring)."""

    max_final_p95_s: float = 1.5
    #: Largest allowed rise of final latency P95 from the first to the last third, as a fraction.
    max_growth: float = 0.30

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class LevelSummary:
    """What one level of the sweep measured, pooled over its streams (latencies in seconds)."""

    k: int
    utterances: int
    no_final: int
    no_draft: int
    final: Spread
    first_draft: Spread
    #: Final latency over the first / last third of each stream's utterances.
    early_final: Spread
    late_final: Spread
    frames_dropped: int
    aborted: int

    @property
    def growth(self) -> float | None:
        """Relative rise of final latency P95 from the first third to the last (0.3: +30 %)."""
        early, late = self.early_final.p95, self.late_final.p95
        if early is None or late is None or early <= 0:
            return None
        return late / early - 1

    @classmethod
    def of(
        cls,
        k: int,
        streams: Sequence[Sequence[UtteranceLatency]],
        *,
        frames_dropped: int = 0,
        aborted: int = 0,
    ) -> LevelSummary:
        """Pool the per-reference latencies of ``streams`` (one sequence per stream)."""
        rows = [row for stream in streams for row in stream]
        early: list[UtteranceLatency] = []
        late: list[UtteranceLatency] = []
        for stream in streams:
            first, last = thirds(stream)
            early += first
            late += last
        return cls(
            k=k,
            utterances=len(rows),
            no_final=sum(1 for r in rows if r.final_s is None),
            no_draft=sum(1 for r in rows if r.first_draft_s is None),
            final=spread(r.final_s for r in rows),
            first_draft=spread(r.first_draft_s for r in rows),
            early_final=spread(r.final_s for r in early),
            late_final=spread(r.final_s for r in late),
            frames_dropped=frames_dropped,
            aborted=aborted,
        )

    def to_dict(self) -> dict[str, Any]:
        growth = self.growth
        return {
            "k": self.k,
            "utterances": self.utterances,
            "no_final": self.no_final,
            "no_draft": self.no_draft,
            "final_s": self.final.to_dict(),
            "first_draft_s": self.first_draft.to_dict(),
            "early_final_s": self.early_final.to_dict(),
            "late_final_s": self.late_final.to_dict(),
            "growth": None if growth is None else round(growth, 4),
            "frames_dropped": self.frames_dropped,
            "aborted_streams": self.aborted,
        }


def thirds(
    rows: Sequence[UtteranceLatency],
) -> tuple[list[UtteranceLatency], list[UtteranceLatency]]:
    """The first and the last third of one stream's utterances, by when their speech ended
    (at least one utterance each; they overlap when there are fewer than two)."""
    ordered = sorted(rows, key=lambda r: r.reference.speech_end_s)
    if not ordered:
        return [], []
    size = max(1, len(ordered) // 3)
    return ordered[:size], ordered[-size:]


@dataclass(frozen=True, kw_only=True)
class Verdict:
    holds: bool
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"holds": self.holds, "reasons": list(self.reasons)}


def judge(level: LevelSummary, criteria: SweepCriteria | None = None) -> Verdict:
    """Whether ``level`` holds; when not, every reason why."""
    criteria = criteria or SweepCriteria()
    reasons: list[str] = []
    if level.frames_dropped:
        reasons.append(f"{level.frames_dropped} audio frames dropped")
    if level.aborted:
        reasons.append(f"{level.aborted} of {level.k} streams aborted (overloaded)")
    if level.no_final:
        reasons.append(f"{level.no_final} of {level.utterances} utterances got no final")
    p95 = level.final.p95
    if p95 is None:
        reasons.append("no final latency measured")
    elif p95 > criteria.max_final_p95_s:
        reasons.append(f"final P95 {p95:.2f} s > {criteria.max_final_p95_s:g} s")
    growth = level.growth
    if growth is not None and growth > criteria.max_growth:
        reasons.append(
            f"final P95 grew {growth:+.0%} from the first to the last third "
            f"(limit {criteria.max_growth:+.0%})"
        )
    return Verdict(holds=not reasons, reasons=tuple(reasons))


def largest_holding(verdicts: Sequence[tuple[int, Verdict]]) -> int | None:
    """The largest K such that it and every smaller K swept held; ``None`` if K=smallest fails."""
    best: int | None = None
    for k, verdict in sorted(verdicts, key=lambda kv: kv[0]):
        if not verdict.holds:
            break
        best = k
    return best


def parse_levels(text: str, what: str = "stream counts") -> tuple[int, ...]:
    """``"1,2,4,8"`` → ``(1, 2, 4, 8)``: positive, strictly increasing."""
    try:
        levels = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise ValueError(f"not a comma-separated list of {what}: {text!r}") from exc
    if not levels or any(k < 1 for k in levels):
        raise ValueError(f"{what} must be positive integers: {text!r}")
    if any(b <= a for a, b in itertools.pairwise(levels)):
        raise ValueError(f"{what} must increase: {text!r}")
    return levels
