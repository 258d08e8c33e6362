"""``echoic bench stream --concurrency 1,2,4,8``: how many real-time streams one process holds.

For each K, K copies of one session are fed at once, each through its own live stream, all
through ONE shared scheduler set (one loaded copy per model, as the server runs them). Every
stream's events are recorded with their arrival times, and per K the sweep reports, over all
utterances of all streams: final latency P50 / P95, first-draft P95, frames dropped, and whether
final latency grows during the run (P95 over the first third of each stream's utterances vs the
last third; EVAL.md "Real-time sustainability": latency must stay bounded).

A level *holds* (:func:`judge`) when no audio was dropped, no stream was aborted, every reference
utterance got its final, final latency P95 ≤ ``max_final_p95_s`` (1.5 s) and it grew by at most
``max_growth`` (30 %) from the first to the last third. The sweep's answer is the largest K such
that it and every smaller K held (:func:`largest_holding`); by default it stops at the first K
that does not hold.

    result = run_sweep(SweepOptions(bench=StreamBenchOptions(sessions=..., models_dir=...)))
    print_sweep_table(result)
    write_sweep_report(result, Path("sweep.json"))

The levels' arithmetic and verdicts are pure (:mod:`echoic.bench.stream_sweep_verdict`); the
table and plot are in :mod:`echoic.bench.stream_sweep_report`. Both are re-exported here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import numpy as np

from echoic.audio import decode_audio
from echoic.bench.machine import MachineInfo, peak_rss_mb
from echoic.bench.session_files import SessionFile, session_files
from echoic.bench.stream import stream_session, warm_up
from echoic.bench.stream_models import LoadedModels, load_models
from echoic.bench.stream_options import StreamBenchOptions
from echoic.bench.stream_probes import cpu_s, latency_records, scheduler_stats
from echoic.bench.stream_result import SessionRun, stats_delta
from echoic.bench.stream_sweep_report import plot_sweep, print_sweep_table, write_sweep_report
from echoic.bench.stream_sweep_verdict import (
    LevelSummary,
    SweepCriteria,
    Verdict,
    judge,
    largest_holding,
    parse_levels,
    thirds,
)
from echoic.streaming.scheduler import SchedulerStats
from echoic.types import SAMPLE_RATE
from echoic.vad.silero import SileroVad

__all__ = [
    "DEFAULT_LEVELS",
    "LevelSummary",
    "SweepCriteria",
    "SweepLevel",
    "SweepOptions",
    "SweepResult",
    "Verdict",
    "judge",
    "largest_holding",
    "parse_levels",
    "plot_sweep",
    "print_sweep_table",
    "run_sweep",
    "thirds",
    "utterance_period_s",
    "write_sweep_report",
]

DEFAULT_LEVELS = (1, 2, 4, 8)


@dataclass(frozen=True, kw_only=True)
class SweepOptions:
    #: Model(s), pacing, chunking and device; only the first session of ``bench.sessions`` is fed.
    bench: StreamBenchOptions
    levels: tuple[int, ...] = DEFAULT_LEVELS
    #: Each stream plays the session this many times back to back (a longer run for the growth
    #: check; 1: once).
    loops: int = 1
    criteria: SweepCriteria = field(default_factory=SweepCriteria)
    #: Stop after the first K that does not hold.
    stop_at_failure: bool = True
    #: Start the K streams spread evenly over one utterance period (the session's length over
    #: its utterances) instead of all at once: utterances then end at independent moments, as
    #: in streams users start on their own, rather than all at the same instant.
    stagger: bool = False

    def __post_init__(self) -> None:
        if not self.levels or any(k < 1 for k in self.levels):
            raise ValueError(f"levels must be positive stream counts, got {self.levels}")
        if self.loops < 1:
            raise ValueError(f"loops must be at least 1, got {self.loops}")


@dataclass(frozen=True, kw_only=True)
class SweepLevel:
    k: int
    runs: tuple[SessionRun, ...]
    #: CPU seconds of the whole process while the K streams ran, and their wall time.
    cpu_s: float
    wall_s: float
    #: Both schedulers' counters over the level (the streams share them).
    scheduler: SchedulerStats

    @property
    def summary(self) -> LevelSummary:
        return LevelSummary.of(
            self.k,
            [run.utterances for run in self.runs],
            frames_dropped=sum(run.frames_dropped for run in self.runs),
            aborted=sum(1 for run in self.runs if run.aborted),
        )

    @property
    def audio_s(self) -> float:
        return sum(run.audio_s for run in self.runs)

    @property
    def cpu_per_audio_s(self) -> float:
        audio = self.audio_s
        return self.cpu_s / audio if audio > 0 else 0.0

    def to_dict(self, criteria: SweepCriteria) -> dict[str, Any]:
        return {
            **self.summary.to_dict(),
            **judge(self.summary, criteria).to_dict(),
            "cpu_s": round(self.cpu_s, 3),
            "cpu_per_audio_s": round(self.cpu_per_audio_s, 4),
            "wall_s": round(self.wall_s, 3),
            "scheduler": asdict(self.scheduler),
            "streams": [run.to_dict() for run in self.runs],
        }


@dataclass(frozen=True, kw_only=True)
class SweepResult:
    label: str
    realtime: bool
    session: str
    loops: int
    chunk_ms: int
    criteria: SweepCriteria
    machine: MachineInfo
    created_at: str
    levels: tuple[SweepLevel, ...]
    peak_rss_mb: float
    #: Drafts of several streams one batched call ran at most (1: one at a time).
    max_batch: int = 1
    #: Finals of several streams one batched call ran at most.
    final_batch: int = 1
    #: Staggered starts: the K streams of a level started spread evenly over this many seconds
    #: (one utterance period); 0: all at once.
    stagger_period_s: float = 0.0

    kind: ClassVar[str] = "stream-sweep"

    @property
    def verdicts(self) -> list[tuple[int, Verdict]]:
        return [(level.k, judge(level.summary, self.criteria)) for level in self.levels]

    @property
    def largest_k(self) -> int | None:
        return largest_holding(self.verdicts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self.label,
            "created_at": self.created_at,
            "mode": "realtime" if self.realtime else "fast",
            "session": self.session,
            "loops": self.loops,
            "chunk_ms": self.chunk_ms,
            "max_batch": self.max_batch,
            "final_batch": self.final_batch,
            "stagger_period_s": round(self.stagger_period_s, 3),
            "machine": self.machine.to_dict(),
            "criteria": self.criteria.to_dict(),
            "largest_k": self.largest_k,
            "memory": {"peak_rss_mb": self.peak_rss_mb},
            "levels": [level.to_dict(self.criteria) for level in self.levels],
        }


def run_sweep(
    options: SweepOptions, *, on_level: Callable[[SweepLevel, Verdict], None] | None = None
) -> SweepResult:
    bench = options.bench
    session = session_files(bench.sessions)[0]
    period_s = utterance_period_s(session) if options.stagger else 0.0
    with load_models(bench) as models:
        levels = asyncio.run(_sweep(models, session, options, on_level, period_s))
        return SweepResult(
            label=bench.label,
            realtime=bench.realtime,
            session=session.name,
            loops=options.loops,
            chunk_ms=bench.chunk_ms,
            criteria=options.criteria,
            machine=models.machine(bench),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            levels=tuple(levels),
            peak_rss_mb=peak_rss_mb(),
            max_batch=bench.max_batch,
            final_batch=bench.final_batch,
            stagger_period_s=period_s,
        )


async def _sweep(
    models: LoadedModels,
    session: SessionFile,
    options: SweepOptions,
    on_level: Callable[[SweepLevel, Verdict], None] | None,
    period_s: float,
) -> list[SweepLevel]:
    """``period_s``: stagger the streams' starts over this many seconds (0: all at once)."""
    audio = decode_audio(session.audio)
    if options.loops > 1:
        session = session.looped(options.loops, len(audio) / SAMPLE_RATE)
        audio = np.tile(audio, options.loops)
    detector = SileroVad()
    schedulers = models.schedulers()
    levels: list[SweepLevel] = []

    async def stream(index: int, start_s: float, records: list[dict[str, Any]]) -> SessionRun:
        await asyncio.sleep(start_s)
        return await stream_session(
            schedulers,
            detector,
            session,
            audio,
            options.bench,
            models.config,
            repeat=index,
            records=records,
        )

    try:
        await warm_up(models, detector, session, audio)
        with latency_records() as records:
            for k in options.levels:
                before = scheduler_stats(schedulers)
                cpu_before, started = cpu_s(), time.monotonic()
                step_s = period_s / k
                runs = await asyncio.gather(
                    *(stream(index, index * step_s, records) for index in range(k))
                )
                level = SweepLevel(
                    k=k,
                    runs=tuple(runs),
                    cpu_s=cpu_s() - cpu_before,
                    wall_s=time.monotonic() - started,
                    scheduler=stats_delta(scheduler_stats(schedulers), before),
                )
                levels.append(level)
                verdict = judge(level.summary, options.criteria)
                if on_level is not None:
                    on_level(level, verdict)
                if options.stop_at_failure and not verdict.holds:
                    break
        return levels
    finally:
        await schedulers.aclose()


def utterance_period_s(session: SessionFile) -> float:
    """How often the session's utterances end, on average: its length over their number."""
    return len(decode_audio(session.audio)) / SAMPLE_RATE / max(1, len(session.references))
