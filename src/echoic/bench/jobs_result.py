"""What ``echoic bench jobs`` found: each job as the API showed it, each workload on each worker
count, the queue-latency rounds, and the arithmetic over them (throughput, spreads, added
latency).

No requests and no processes here: every figure is computed from the recorded jobs and times
when asked for, so the JSON report and the table (:mod:`echoic.bench.jobs_report`) cannot
disagree. The runs that record them are in :mod:`echoic.bench.jobs`.
"""

from __future__ import annotations

import os
import platform
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from echoic.bench.machine import cpu_model
from echoic.bench.speed import Timing

if TYPE_CHECKING:
    from echoic.bench.jobs import JobsBenchOptions

FINISHED = frozenset({"completed", "failed", "cancelled"})
DONE = FINISHED | {"rejected"}  # nothing more will happen to these
CONTENDERS = ("direct", "job (SSE)", "job (poll)")


@dataclass(frozen=True, kw_only=True)
class JobRecord:
    """One job as the API last showed it (``status`` ``rejected``: the submission failed)."""

    id: str
    status: str
    audio_s: float
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    worker_id: str | None = None
    error: str | None = None

    @classmethod
    def of(cls, body: dict[str, Any], audio_s: float) -> JobRecord:
        error = body.get("error") or {}
        return cls(
            id=body["id"],
            status=body["status"],
            audio_s=float(body["media"].get("duration_s") or audio_s),
            created_at=body.get("created_at"),
            started_at=body.get("started_at"),
            finished_at=body.get("finished_at"),
            worker_id=body.get("worker_id"),
            error=error.get("message"),
        )

    @property
    def completed(self) -> bool:
        return self.status == "completed"

    @property
    def wait_s(self) -> float | None:
        if self.started_at is None or self.created_at is None:
            return None
        return self.started_at - self.created_at

    @property
    def processing_s(self) -> float | None:
        if not self.completed or self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @property
    def turnaround_s(self) -> float | None:
        if not self.completed or self.created_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.created_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "audio_s": round(self.audio_s, 3),
            "wait_s": _round(self.wait_s),
            "processing_s": _round(self.processing_s),
            "worker_id": self.worker_id,
            "error": self.error,
        }


def span_s(jobs: Sequence[JobRecord]) -> float | None:
    """From the first job's creation to the last completion; ``None`` before any completion."""
    created = [j.created_at for j in jobs if j.created_at is not None]
    finished = [j.finished_at for j in jobs if j.completed and j.finished_at is not None]
    if not created or not finished:
        return None
    return max(finished) - min(created)


def audio_hours_per_hour(jobs: Sequence[JobRecord]) -> float | None:
    """Completed audio over :func:`span_s` (audio hours per wall hour: a real-time multiple)."""
    span = span_s(jobs)
    if not span or span <= 0:
        return None
    return sum(j.audio_s for j in jobs if j.completed) / span


def timing_of(values: Iterable[float | None], audio_s: float = 0.0) -> Timing | None:
    """Median, min and max of the values that exist; ``None`` when none does."""
    present = tuple(v for v in values if v is not None)
    return Timing(times_s=present, audio_s=audio_s) if present else None


def spread_dict(timing: Timing | None) -> dict[str, Any] | None:
    """``Timing.to_dict`` without the real-time multiple where no audio length applies."""
    if timing is None:
        return None
    row = timing.to_dict()
    return row if timing.audio_s else {k: v for k, v in row.items() if k != "rtfx"}


def added_s(job_s: Sequence[float], direct_s: Sequence[float]) -> float | None:
    """median(job) − median(direct)."""
    if not job_s or not direct_s:
        return None
    return statistics.median(job_s) - statistics.median(direct_s)


def paired_added_s(job_s: Sequence[float | None], direct_s: Sequence[float | None]) -> float | None:
    """The median of the per-round differences job − direct (rounds where both succeeded)."""
    pairs = [j - d for j, d in zip(job_s, direct_s, strict=True) if j is not None and d is not None]
    return statistics.median(pairs) if pairs else None


@dataclass(frozen=True, kw_only=True)
class Batch:
    """One workload on one worker count."""

    workload: str
    workers: int
    jobs: tuple[JobRecord, ...]
    #: First POST → the client saw every job finished (includes its poll interval).
    client_s: float

    def count(self, *statuses: str) -> int:
        return sum(j.status in statuses for j in self.jobs)

    @property
    def unfinished(self) -> int:
        return sum(j.status not in DONE for j in self.jobs)

    @property
    def audio_s(self) -> float:
        return sum(j.audio_s for j in self.jobs if j.completed)

    @property
    def first_error(self) -> str | None:
        return next((j.error for j in self.jobs if not j.completed and j.error), None)

    def to_dict(self) -> dict[str, Any]:
        processing, wait = spreads(self.jobs)
        return {
            "workload": self.workload,
            "workers": self.workers,
            "jobs": len(self.jobs),
            "completed": self.count("completed"),
            "failed": self.count("failed", "cancelled", "rejected"),
            "unfinished": self.unfinished,
            "audio_s": round(self.audio_s, 3),
            "span_s": _round(span_s(self.jobs)),
            "client_s": round(self.client_s, 3),
            "audio_h_per_h": _round(audio_hours_per_hour(self.jobs), 2),
            "processing_s": spread_dict(processing),
            "wait_s": spread_dict(wait),
            "job_rtfx": spread_dict(
                timing_of(j.audio_s / p for j in self.jobs if (p := j.processing_s))
            ),
            "jobs_per_worker": dict(Counter(j.worker_id for j in self.jobs if j.completed)),
            "first_error": self.first_error,
            "job_list": [j.to_dict() for j in self.jobs],
        }


def spreads(jobs: Sequence[JobRecord]) -> tuple[Timing | None, Timing | None]:
    """The spread of the jobs' processing times and of their queue waits."""
    processing = timing_of(j.processing_s for j in jobs)
    return processing, timing_of(j.wait_s for j in jobs)


@dataclass(frozen=True, kw_only=True)
class Level:
    workers: int
    #: Each worker process's threads per call and parallel calls.
    cpu_threads: int
    calls: int
    batches: tuple[Batch, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "workers": self.workers,
            "setup": f"echoic serve --workers 0 + {self.workers} × echoic worker",
            "cpu_threads_per_worker": self.cpu_threads,
            "calls_per_worker": self.calls,
            "batches": [b.to_dict() for b in self.batches],
        }


@dataclass(frozen=True, kw_only=True)
class Latency:
    clip: Path
    audio_s: float
    #: Per round, per contender: the client's seconds (``None``: that attempt failed).
    rounds: tuple[dict[str, float | None], ...]
    jobs: tuple[JobRecord, ...]
    errors: tuple[str, ...] = ()

    def times(self, contender: str) -> list[float | None]:
        return [r.get(contender) for r in self.rounds]

    def timing(self, contender: str) -> Timing | None:
        return timing_of(self.times(contender), self.audio_s)

    def added(self, contender: str) -> tuple[float | None, float | None]:
        """(median − median, median of paired differences) against ``direct``."""
        job, direct = self.times(contender), self.times("direct")
        present = [t for t in job if t is not None]
        return (
            added_s(present, [t for t in direct if t is not None]),
            paired_added_s(job, direct),
        )

    def to_dict(self) -> dict[str, Any]:
        contenders: dict[str, Any] = {}
        for name in CONTENDERS:
            timing = self.timing(name)
            median_delta, paired = self.added(name) if name != "direct" else (None, None)
            contenders[name] = {
                **({} if timing is None else timing.to_dict()),
                "failures": sum(t is None for t in self.times(name)),
                "added_s": _round(median_delta),
                "added_paired_s": _round(paired),
            }
        server = {
            "turnaround_s": timing_of(j.turnaround_s for j in self.jobs),
            "wait_s": timing_of(j.wait_s for j in self.jobs),
            "processing_s": timing_of(j.processing_s for j in self.jobs),
        }
        return {
            "clip": str(self.clip),
            "audio_s": round(self.audio_s, 3),
            "runs": len(self.rounds),
            "setup": "echoic serve --workers 1",
            "client": contenders,
            "job_timestamps": {k: spread_dict(v) for k, v in server.items()},
            "errors": list(self.errors),
        }


@dataclass(frozen=True, kw_only=True)
class JobsBenchResult:
    kind = "jobs"
    options: JobsBenchOptions
    levels: tuple[Level, ...]
    latency: Latency | None
    #: The 1-minute load average at the start and at the end: other work on the machine shows.
    load_1m: tuple[float, float] = (0.0, 0.0)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "created_at": self.created_at,
            "model": self.options.model,
            "longform": None if self.options.longform is None else str(self.options.longform),
            "repeat": self.options.repeat,
            "files": len(self.options.files),
            "machine": {
                "cpu_count": os.cpu_count() or 1,
                "cpu_model": cpu_model(),
                "platform": platform.platform(),
                "load_1m_before": round(self.load_1m[0], 2),
                "load_1m_after": round(self.load_1m[1], 2),
            },
            "throughput": [level.to_dict() for level in self.levels],
            "latency": None if self.latency is None else self.latency.to_dict(),
        }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)
