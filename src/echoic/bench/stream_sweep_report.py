"""How ``echoic bench stream --concurrency`` results leave the process: a rich table, JSON, and a
PNG of latency against the number of streams."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from echoic.bench.report import write_with_plot
from echoic.bench.stream_sweep_verdict import LevelSummary, Verdict

if TYPE_CHECKING:
    from echoic.bench.stream_sweep import SweepResult  # which imports this module


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
        f"one shared scheduler set, drafts batched by up to {result.max_batch}, finals by up to "
        f"{result.final_batch} · latencies in s"
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
