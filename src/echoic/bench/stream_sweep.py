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
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from echoic.audio import decode_audio
from echoic.bench.machine import MachineInfo, peak_rss_mb
from echoic.bench.report import write_with_plot
from echoic.bench.session_files import SessionFile, session_files
from echoic.bench.stream import stream_session, warm_up
from echoic.bench.stream_metrics import Spread, UtteranceLatency, spread
from echoic.bench.stream_models import LoadedModels, load_models
from echoic.bench.stream_options import StreamBenchOptions
from echoic.bench.stream_probes import cpu_s, latency_records, scheduler_stats
from echoic.bench.stream_result import SessionRun, stats_delta
from echoic.streaming.scheduler import SchedulerStats
from echoic.types import SAMPLE_RATE
from echoic.vad.silero import SileroVad

DEFAULT_LEVELS = (1, 2, 4, 8)


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


SWEEP_COLUMNS = (
    "K",
    "utts",
    "final P50",
    "final P95",
    "P95 first ⅓",
    "P95 last ⅓",
    "growth",
    "draft P95",
    "no draft",
    "no final",
    "dropped",
    "aborted",
    "CPU s/s",
    "holds",
)


def sweep_cells(summary: LevelSummary, verdict: Verdict, cpu_per_audio_s: float) -> list[str]:
    growth = summary.growth
    return [
        str(summary.k),
        str(summary.utterances),
        _s(summary.final.p50),
        _s(summary.final.p95),
        _s(summary.early_final.p95),
        _s(summary.late_final.p95),
        "–" if growth is None else f"{growth:+.0%}",
        _s(summary.first_draft.p95),
        str(summary.no_draft),
        str(summary.no_final),
        str(summary.frames_dropped),
        str(summary.aborted),
        f"{cpu_per_audio_s:.3f}",
        "yes" if verdict.holds else "no",
    ]


def print_sweep_table(result: SweepResult, console: Console | None = None) -> None:
    console = console or Console()
    mode = "real time" if result.realtime else "fast (not real time: latencies are not a user's)"
    loops = f" ×{result.loops}" if result.loops > 1 else ""
    if result.stagger_period_s:
        loops += f", started over {result.stagger_period_s:.1f} s"
    table = Table(
        title=f"concurrency sweep · {result.label} · {mode} · {result.session}{loops} per stream · "
        f"one shared scheduler set, drafts batched by up to {result.max_batch} · latencies in s"
    )
    for column in SWEEP_COLUMNS:
        table.add_column(column, justify="right")
    for level, (_, verdict) in zip(result.levels, result.verdicts, strict=True):
        table.add_row(*sweep_cells(level.summary, verdict, level.cpu_per_audio_s))
    console.print(table)
    for level, (_, verdict) in zip(result.levels, result.verdicts, strict=True):
        if not verdict.holds:
            console.print(f"K={level.k} does not hold: {'; '.join(verdict.reasons)}")
    c = result.criteria
    console.print(
        f"largest K that holds (no drops, every final, final P95 ≤ {c.max_final_p95_s:g} s, "
        f"growth ≤ {c.max_growth:.0%}): {result.largest_k if result.largest_k else 'none'}"
    )


def write_sweep_report(
    result: SweepResult, json_path: Path, png_path: Path | None = None
) -> tuple[Path, Path]:
    return write_with_plot(result, json_path, png_path, lambda png: plot_sweep(result, png))


def plot_sweep(result: SweepResult, path: Path) -> Path:
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    summaries = [level.summary for level in result.levels]
    ks = [s.k for s in summaries]
    series: list[tuple[str, list[float | None], str]] = [
        ("final P50", [s.final.p50 for s in summaries], "-o"),
        ("final P95", [s.final.p95 for s in summaries], "-s"),
        ("final P95, first ⅓", [s.early_final.p95 for s in summaries], ":^"),
        ("final P95, last ⅓", [s.late_final.p95 for s in summaries], ":v"),
        ("first draft P95", [s.first_draft.p95 for s in summaries], "--d"),
    ]
    for label, values, style in series:
        ax.plot(ks, [np.nan if v is None else v for v in values], style, label=label)
    ax.axhline(result.criteria.max_final_p95_s, color="#d62728", lw=1, ls="--")
    for k, verdict in result.verdicts:
        if not verdict.holds:
            ax.axvspan(k * 0.85, k * 1.15, color="#d62728", alpha=0.12)
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("simultaneous real-time streams (K); red: does not hold")
    ax.set_ylabel("seconds")
    ax.legend(fontsize=8)
    fig.suptitle(
        f"{result.label} · {result.session} · {'real time' if result.realtime else 'fast'} · "
        f"largest K that holds: {result.largest_k or 'none'}",
        fontsize=10,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
