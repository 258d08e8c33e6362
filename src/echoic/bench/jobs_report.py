"""How ``echoic bench jobs`` results leave the process: rich tables (throughput per worker count,
queue latency), the JSON report and a PNG with one panel for each.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from echoic.bench.jobs_result import (
    CONTENDERS,
    Batch,
    JobsBenchResult,
    Latency,
    Level,
    audio_hours_per_hour,
    span_s,
    spreads,
    timing_of,
)
from echoic.bench.report import write_with_plot
from echoic.bench.speed import Timing


def print_jobs_table(result: JobsBenchResult, console: Console | None = None) -> None:
    console = console or Console()
    if result.levels:
        table = Table(
            title=f"jobs throughput · {result.options.model} · echoic serve --workers 0 + "
            "N × echoic worker, one SQLite file",
            caption="workers: processes (threads × parallel calls each) · span: first created → "
            "last finished · audio h/h: audio hours per wall hour · job s: finished − started · "
            "wait s: started − created",
        )
        columns = ["workers", "workload", "jobs", "done", "failed", "audio min", "span s"]
        columns += ["audio h/h", "vs first", "job s median (min–max)", "wait s median"]
        for column in columns:
            table.add_column(column, justify="left" if column == "workload" else "right")
        first = {b.workload: audio_hours_per_hour(b.jobs) for b in result.levels[0].batches}
        for level in result.levels:
            for batch in level.batches:
                rate = audio_hours_per_hour(batch.jobs)
                base = first.get(batch.workload)
                processing, wait = spreads(batch.jobs)
                table.add_row(
                    f"{level.workers} ({level.cpu_threads}×{level.calls})",
                    batch.workload,
                    str(len(batch.jobs)),
                    str(batch.count("completed")),
                    _failed(batch),
                    f"{batch.audio_s / 60:.1f}",
                    _number(span_s(batch.jobs), 1),
                    _number(rate, 1),
                    f"{rate / base:.2f}×" if rate and base else "—",
                    _timing(processing),
                    _number(None if wait is None else wait.median_s, 2),
                )
        console.print(table)
    if result.latency is not None:
        _print_latency(result.latency, console)
    before, after = result.load_1m
    console.print(
        f"{os.cpu_count()} cores · 1-minute load average {before:.2f} before, {after:.2f} after"
    )


def _failed(batch: Batch) -> str:
    failed = batch.count("failed", "cancelled", "rejected") + batch.unfinished
    return f"[red]{failed}[/red]" if failed else "0"


def _print_latency(latency: Latency, console: Console) -> None:
    table = Table(
        title=f"queue latency · {latency.clip.name} ({latency.audio_s:.1f} s) · "
        f"{len(latency.rounds)} rounds, interleaved · echoic serve --workers 1"
    )
    for column in ("path", "median s (min–max)", "added s (medians)", "added s (paired)", "fail"):
        table.add_column(column, justify="left" if column == "path" else "right")
    for name in CONTENDERS:
        added, paired = latency.added(name) if name != "direct" else (None, None)
        table.add_row(
            name,
            _timing(latency.timing(name)),
            _signed(added),
            _signed(paired),
            str(sum(t is None for t in latency.times(name))),
        )
    for label, values in (
        ("job timestamps: finished − created", [j.turnaround_s for j in latency.jobs]),
        ("  of which queued (started − created)", [j.wait_s for j in latency.jobs]),
    ):
        table.add_row(label, _timing(timing_of(values)), "", "", "")
    console.print(table)
    for error in latency.errors[:3]:
        console.print(f"[red]{error}[/red]")


def _number(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _signed(value: float | None) -> str:
    return "" if value is None else f"{value:+.3f}"


def _timing(timing: Timing | None) -> str:
    if timing is None:
        return "—"
    return f"{timing.median_s:.3f} ({timing.min_s:.3f}–{timing.max_s:.3f})"


def write_jobs_report(
    result: JobsBenchResult, json_path: Path, png_path: Path | None = None
) -> tuple[Path, Path]:
    return write_with_plot(result, json_path, png_path, _plotter(result))


def _plotter(result: JobsBenchResult) -> Callable[[Path], None]:
    def plot(path: Path) -> None:
        panels = int(bool(result.levels)) + int(result.latency is not None)
        figure = Figure(figsize=(5.5 * max(1, panels), 4.5), layout="constrained")
        FigureCanvasAgg(figure)
        axes = list(figure.subplots(1, max(1, panels), squeeze=False)[0])
        if result.levels:
            _plot_throughput(axes.pop(0), result.levels)
        if result.latency is not None:
            _plot_latency(axes.pop(0), result.latency)
        figure.suptitle(f"echoic jobs · {result.options.model} · {os.cpu_count()} cores")
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=100)

    return plot


def _plot_throughput(ax: Any, levels: Sequence[Level]) -> None:
    workloads = [b.workload for b in levels[0].batches]
    width = 0.8 / len(levels)
    for i, level in enumerate(levels):
        rates = {b.workload: audio_hours_per_hour(b.jobs) or 0.0 for b in level.batches}
        xs = [x + (i - (len(levels) - 1) / 2) * width for x in range(len(workloads))]
        bars = ax.bar(xs, [rates.get(w, 0.0) for w in workloads], width, label=f"{level.workers}")
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.set_xticks(range(len(workloads)), workloads)
    ax.set(ylabel="audio hours per wall hour", title="throughput by worker processes")
    ax.legend(title="workers")


def _plot_latency(ax: Any, latency: Latency) -> None:
    names, medians, low, high = [], [], [], []
    series = [(name, latency.timing(name)) for name in CONTENDERS]
    series.append(("job timestamps", timing_of(j.turnaround_s for j in latency.jobs)))
    for name, timing in series:
        if timing is not None:
            names.append(name.replace(" (", "\n("))
            medians.append(timing.median_s)
            low.append(timing.median_s - timing.min_s)
            high.append(timing.max_s - timing.median_s)
    bars = ax.bar(names, medians, yerr=[low, high], capsize=4)
    ax.bar_label(bars, fmt="%.2f s", label_type="center", fontsize=8)
    ax.set(
        ylabel=f"seconds (median, min–max of {len(latency.rounds)})",
        title=f"{latency.clip.name}: submit → completed",
    )
