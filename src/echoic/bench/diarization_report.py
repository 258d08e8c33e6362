"""``echoic bench diarization``'s table and plot (the JSON is the result's ``to_dict``)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from echoic.bench.der import DerScore
from echoic.bench.diarization import DiarizationResult
from echoic.bench.diarization_speed import DIARIZE, DIARIZED, TRANSCRIBE, LongformTiming
from echoic.bench.speed import Timing

_TIME_COLORS = {DIARIZED: "#1f77b4", DIARIZE: "#2ca02c"}
_SHORT = {
    TRANSCRIBE: "transcribe",
    DIARIZED: "transcribe\n+ diarize",
    DIARIZE: "diarize\nalone",
}
#: Issue 16's goal on assembled conversations without overlap.
TARGET_DER = 0.10
#: Missed speech, false alarm, confusion: stacked in this order, in these colours.
_PARTS = (
    ("missed", "#d62728"),
    ("false alarm", "#ff7f0e"),
    ("confusion", "#1f77b4"),
)


def _cells(score: DerScore) -> list[str]:
    return [
        _pct(score.der),
        _pct(score.share(score.missed_s)),
        _pct(score.share(score.false_alarm_s)),
        _pct(score.share(score.confusion_s)),
    ]


def _pct(value: float) -> str:
    return f"{value * 100:.1f} %"


def _spread(timing: Timing) -> str:
    return f"{timing.median_s:.2f} ({timing.min_s:.2f}–{timing.max_s:.2f})"


def print_diarization(result: DiarizationResult, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(
        title=f"DER · {result.diarizer} · speakers {result.policy.label} · "
        f"collar {result.collar_s:g} s, overlap scored"
    )
    table.add_column("set", no_wrap=True)
    table.add_column("file", no_wrap=True)
    for column in ("audio s", "speakers", "found", "DER", "missed", "false al.", "confusion"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("s / audio min", justify="right", no_wrap=True)
    for s in result.sets:
        for f in s.files:
            found = str(f.hypothesis_speakers)
            table.add_row(
                s.name,
                f.name,
                f"{f.duration_s:.1f}",
                str(f.reference_speakers),
                found if f.count_right else f"[red]{found}[/red]",
                *_cells(f.score),
                f"{f.diarize_s / (f.duration_s / 60):.2f}",
            )
        table.add_row(
            s.name,
            "all",
            f"{s.audio_s:.1f}",
            "",
            f"{s.counts_right}/{len(s.files)} right",
            *_cells(s.score),
            f"{s.seconds_per_audio_minute:.2f}",
            style="bold",
        )
    console.print(table)
    if result.longform is not None:
        print_longform(result.longform, console)


def print_longform(timing: LongformTiming, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(
        title=f"{timing.path.name} ({timing.duration_s:.0f} s) · {timing.model} batch "
        "transcription, with and without diarization"
    )
    table.add_column("contender")
    for column in ("median s (min–max)", "RTFx", "CPU s (min–max)"):
        table.add_column(column, justify="right")
    for name, t in timing.timings.items():
        table.add_row(name, _spread(t), f"{t.rtfx:.1f}×", _spread(timing.cpu[name]))
    console.print(table)
    repeats = len(timing.timings[TRANSCRIBE].times_s)
    console.print(
        f"diarization adds [bold]{timing.added * 100:+.1f} %[/bold] to the transcription "
        f"(medians of {repeats}; median of the paired ratios {timing.added_paired * 100:+.1f} %;"
        f" CPU seconds {timing.added_cpu * 100:+.1f} %) · {timing.speakers} speakers, "
        f"{timing.redecoded} shared segments decoded again with words · same text: "
        + ("yes" if timing.same_text else "[red]no[/red]")
    )


def plot_diarization(result: DiarizationResult, path: Path) -> Path:
    """DER per file, stacked by kind of error (set totals last); and the time it takes:
    the long-form side by side when measured, else seconds per audio minute per set."""
    rows = [
        (f"{f.name}\n{f.reference_speakers}→{f.hypothesis_speakers} spk", f.score)
        for s in result.sets
        for f in s.files
    ] + [
        (f"{s.name}: all\n{s.counts_right}/{len(s.files)} counts", s.score)
        for s in result.sets
        if len(s.files) > 1
    ]
    fig = Figure(figsize=(max(7.0, 0.55 * len(rows) + 5.0), 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    der_ax, time_ax = fig.subplots(1, 2, width_ratios=[max(2.0, len(rows) / 3), 1])
    bottoms = [0.0] * len(rows)
    for label, color in _PARTS:
        values = [
            score.share(
                {
                    "missed": score.missed_s,
                    "false alarm": score.false_alarm_s,
                    "confusion": score.confusion_s,
                }[label]
            )
            for _, score in rows
        ]
        der_ax.bar(range(len(rows)), values, bottom=bottoms, color=color, label=label)
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    for x, (_, score) in enumerate(rows):
        der_ax.annotate(
            f"{score.der * 100:.1f}",
            (x, score.der),
            ha="center",
            va="bottom",
            fontsize=7,
        )
    der_ax.set_xticks(range(len(rows)), [name for name, _ in rows], rotation=60, fontsize=7)
    der_ax.yaxis.set_major_formatter(lambda v, _pos: f"{v * 100:.3g} %")
    der_ax.set_ylabel("DER (collar 0.5 s)")
    der_ax.set_ylim(0, max(0.1, *bottoms) * 1.15)
    der_ax.set_title(f"DER · {result.diarizer} · speakers {result.policy.label}", fontsize=9)
    der_ax.axhline(TARGET_DER, color="#888888", linestyle="--", linewidth=0.8, label="target")
    der_ax.legend(fontsize=7, loc="best")
    longform = result.longform
    if longform is not None:
        names = list(longform.timings)
        bars = time_ax.bar(
            [_SHORT.get(n, n) for n in names],
            [longform.timings[n].median_s for n in names],
            color=[_TIME_COLORS.get(n, "#aaaaaa") for n in names],
        )
        time_ax.bar_label(bars, fmt="%.1f s", fontsize=8)
        time_ax.tick_params(axis="x", labelsize=7)
        time_ax.set_ylabel("wall seconds (median)")
        time_ax.set_title(
            f"{longform.path.stem}\n{longform.duration_s:.0f} s, {longform.model} batch\n"
            f"diarization adds {longform.added * 100:+.1f} %",
            fontsize=7,
        )
    else:
        names = [s.name for s in result.sets]
        bars = time_ax.bar(names, [s.seconds_per_audio_minute for s in result.sets])
        time_ax.bar_label(bars, fmt="%.2f s", fontsize=8)
        time_ax.set_ylabel("diarizer seconds per audio minute")
        time_ax.set_title("time", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
