"""How a benchmark result leaves the process: a rich table, a JSON report and a PNG plot.

Plots are drawn on a bare ``Figure`` with the Agg canvas: no pyplot, no global backend state,
no display needed.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from echoic.bench.speed import SpeedResult, Timing
from echoic.bench.wer import WerResult

Result = WerResult | SpeedResult

DEFAULT_DIR = Path("bench-results")
_ECHOIC_COLOR, _PLAIN_COLOR = "#1f77b4", "#aaaaaa"


def default_report_path(
    kind: str, model: str, *, directory: Path = DEFAULT_DIR, now: datetime | None = None
) -> Path:
    """``bench-results/<kind>-<model>-<timestamp>.json``; the plot goes beside it as ``.png``."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    safe_model = re.sub(r"[^A-Za-z0-9._-]+", "_", model)
    return directory / f"{kind}-{safe_model}-{stamp}.json"


def save_report(result: Result, json_path: Path | None = None) -> tuple[Path, Path]:
    """Write the JSON report and its plot (same name, ``.png``); return both paths."""
    path = json_path or default_report_path(result.kind, result.model)
    png = path.with_suffix(".png")
    write_json(result, path)
    if isinstance(result, WerResult):
        plot_wer(result, png)
    else:
        plot_speed(result, png)
    return path, png


class Reportable(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


def write_json(result: Reportable, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
    return path


def write_with_plot(
    result: Reportable, json_path: Path, png_path: Path | None, plot: Callable[[Path], object]
) -> tuple[Path, Path]:
    """Write ``result`` as JSON and ``plot`` it (``png_path``, default: beside the JSON)."""
    png = png_path or json_path.with_suffix(".png")
    write_json(result, json_path)
    plot(png)
    return json_path, png


# ---------------------------------------------------------------------------------------------
# tables


def print_report(result: Result, console: Console | None = None) -> None:
    if isinstance(result, WerResult):
        print_wer(result, console)
    else:
        print_speed(result, console)


def print_wer(
    result: WerResult, console: Console | None = None, *, utterances: bool = False
) -> None:
    """Per-corpus WER table; with ``utterances``, also every utterance that has an error."""
    console = console or Console()
    plain = result.plain is not None
    if utterances:
        rows = Table(title="utterances with errors (echoic)", show_lines=False)
        for col in ("id", "words", "errors", "hypothesis (normalized)", "reference (normalized)"):
            rows.add_column(col, justify="right" if col in ("words", "errors") else "left")
        for u in result.utterances:
            if u.echoic.counts.errors:
                rows.add_row(
                    u.id,
                    str(u.echoic.counts.words),
                    str(u.echoic.counts.errors),
                    u.echoic.normalized,
                    u.reference_normalized,
                )
        console.print(rows)
    table = Table(title=f"WER · {result.model} · {_setup(result)}")
    table.add_column("corpus")
    for col in ("utts", "words", "audio s", "echoic WER"):
        table.add_column(col, justify="right")
    if plain:
        table.add_column("plain WER", justify="right")
        table.add_column("Δ points", justify="right")
    for c in result.corpora:
        cells = [c.corpus, str(c.utterances), str(c.echoic.words), f"{c.audio_s:.1f}"]
        cells.append(_pct(c.echoic.wer))
        if c.plain is not None:
            cells += [_pct(c.plain.wer), f"{(c.echoic.wer - c.plain.wer) * 100:+.2f}"]
        elif plain:
            cells += ["", ""]
        table.add_row(*cells)
    e = result.echoic
    cells = [
        "all",
        str(len(result.utterances)),
        str(e.counts.words),
        f"{e.audio_s:.1f}",
        _pct(e.wer),
    ]
    if result.plain is not None and result.wer_delta is not None:
        cells += [_pct(result.plain.wer), f"{result.wer_delta * 100:+.2f}"]
    table.add_row(*cells, style="bold")
    console.print(table)
    speed = f"RTFx echoic {e.rtfx:.1f}× ({e.processing_s:.1f} s)"
    if result.plain is not None:
        speed += f" · plain {result.plain.rtfx:.1f}× ({result.plain.processing_s:.1f} s)"
        speed += f" · {result.differing} hypotheses differ"
    console.print(
        f"{speed} · errors S/D/I {e.counts.substitutions}/{e.counts.deletions}/"
        f"{e.counts.insertions} · peak RSS {result.peak_rss_after_run_mb:.0f} MiB"
    )


def print_speed(result: SpeedResult, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"echoic vs plain faster-whisper · {result.model} · {_setup(result)}")
    table.add_column("file")
    for col in ("audio s", "echoic s", "plain s", "echoic RTFx", "plain RTFx", "overhead"):
        table.add_column(col, justify="right")
    table.add_column("same text")
    for f in result.files:
        table.add_row(
            f.path.name,
            f"{f.duration_s:.1f}",
            _spread(f.echoic),
            _spread(f.plain),
            f"{f.echoic.rtfx:.1f}×",
            f"{f.plain.rtfx:.1f}×",
            f"{f.overhead_ratio:.3f}",
            "yes" if f.same_text else "[red]no[/red]",
        )
    console.print(table)
    t = result.throughput
    if t is not None:
        table = Table(title=f"batched (batch {t.batch_size}) vs sequential · {t.path.name}")
        table.add_column("contender")
        for col in ("median s (min–max)", "RTFx", "speedup"):
            table.add_column(col, justify="right")
        for name, timing, speedup in (
            ("echoic sequential", t.echoic_sequential, ""),
            ("echoic batched", t.echoic_batched, f"{t.echoic_speedup:.2f}×"),
            ("plain sequential", t.plain_sequential, ""),
            ("plain batched", t.plain_batched, f"{t.plain_speedup:.2f}×"),
        ):
            table.add_row(name, _spread(timing), f"{timing.rtfx:.1f}×", speedup)
        console.print(table)
    console.print(
        f"{result.repeats} repeats, medians · peak RSS after load "
        f"{result.peak_rss_after_load_mb:.0f} MiB, "
        f"after the run {result.peak_rss_after_run_mb:.0f} MiB"
    )


def _setup(result: Result) -> str:
    m = result.machine
    return f"{m.device} {m.compute_type} · {m.cpu_threads} threads · beam {m.beam_size}"


def _pct(value: float) -> str:
    return f"{value * 100:.2f} %"


def _spread(timing: Timing) -> str:
    return f"{timing.median_s:.3f} ({timing.min_s:.3f}–{timing.max_s:.3f})"


# ---------------------------------------------------------------------------------------------
# plots


def plot_wer(result: WerResult, path: Path) -> Path:
    """WER per corpus (echoic beside plain when compared), and RTFx of each path."""
    fig = Figure(figsize=(11, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    wer_ax, rtfx_ax = fig.subplots(1, 2, width_ratios=[3, 1])
    labels = [
        *(f"{_wrap(c.corpus)}\n{c.echoic.words} words" for c in result.corpora),
        f"all\n{result.echoic.counts.words} words",
    ]
    echoic = [*(c.echoic.wer for c in result.corpora), result.echoic.wer]
    series = [("echoic", echoic, _ECHOIC_COLOR)]
    if result.plain is not None:
        plain = [*(c.plain.wer if c.plain else 0.0 for c in result.corpora), result.plain.wer]
        series.append(("plain faster-whisper", plain, _PLAIN_COLOR))
    _grouped_bars(wer_ax, labels, series, fmt=lambda v: f"{v * 100:.1f}")
    wer_ax.set_ylabel("WER, % (corpus level)")
    wer_ax.set_ylim(0, max(0.01, *(max(values) for _, values, _ in series)) * 1.15)
    wer_ax.yaxis.set_major_formatter(lambda v, _pos: f"{v * 100:.3g} %")
    wer_ax.set_title(f"WER · {result.model} · {_setup(result)}")
    wer_ax.legend()
    names, values = ["echoic"], [result.echoic.rtfx]
    if result.plain is not None:
        names.append("plain")
        values.append(result.plain.rtfx)
    bars = rtfx_ax.bar(names, values, color=[_ECHOIC_COLOR, _PLAIN_COLOR][: len(values)])
    rtfx_ax.bar_label(bars, fmt="%.1f×")
    rtfx_ax.set_ylabel("RTFx (audio s / processing s)")
    rtfx_ax.set_title("speed over the set")
    return _save(fig, path)


def plot_speed(result: SpeedResult, path: Path) -> Path:
    """Per file, median seconds of echoic vs plain (min–max whiskers, linear axis from zero, one
    panel per file since durations differ by orders of magnitude); batched vs sequential RTFx."""
    n_files = len(result.files)
    ratios = [1.0] * n_files + ([2.2] if result.throughput is not None else [])
    fig = Figure(figsize=(2.6 * n_files + 4.5, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(ratios), squeeze=False, width_ratios=ratios)[0]
    for ax, f in zip(axes, result.files, strict=False):
        timings = (f.echoic, f.plain)
        bars = ax.bar(
            ["echoic", "plain"],
            [t.median_s for t in timings],
            yerr=[[t.median_s - t.min_s for t in timings], [t.max_s - t.median_s for t in timings]],
            capsize=4,
            color=[_ECHOIC_COLOR, _PLAIN_COLOR],
        )
        ax.bar_label(bars, fmt="%.2f s", label_type="center", fontsize=8)
        ax.set_title(
            f"{_wrap(f.path.name, width=28)}\n"
            f"{f.duration_s:.0f} s audio · overhead ×{f.overhead_ratio:.3f}",
            fontsize=8,
        )
    axes[0].set_ylabel(f"wall seconds (median, min–max of {result.repeats})")
    t = result.throughput
    if t is not None:
        ax = axes[-1]
        names = ["echoic\nsequential", "echoic\nbatched", "plain\nsequential", "plain\nbatched"]
        values = [
            x.rtfx
            for x in (t.echoic_sequential, t.echoic_batched, t.plain_sequential, t.plain_batched)
        ]
        colors = [_ECHOIC_COLOR, _ECHOIC_COLOR, _PLAIN_COLOR, _PLAIN_COLOR]
        bars = ax.bar(names, values, color=colors)
        ax.bar_label(bars, fmt="%.1f×")
        ax.set_ylabel("RTFx (audio s / wall s, median)")
        ax.set_title(
            f"{t.path.name} ({t.duration_s:.0f} s), batch {t.batch_size}\n"
            f"batched speedup: ×{t.echoic_speedup:.2f} echoic, ×{t.plain_speedup:.2f} plain",
            fontsize=8,
        )
    fig.suptitle(f"echoic vs plain faster-whisper · {result.model} · {_setup(result)}", fontsize=10)
    return _save(fig, path)


def _grouped_bars(
    ax: Axes,
    labels: list[str],
    series: list[tuple[str, list[float], str]],
    *,
    fmt: Callable[[float], str],
) -> None:
    width = 0.8 / len(series)
    for i, (name, values, color) in enumerate(series):
        xs = [x + (i - (len(series) - 1) / 2) * width for x in range(len(labels))]
        bars = ax.bar(xs, values, width, label=name, color=color)
        ax.bar_label(bars, fmt=fmt, fontsize=7)
    ax.set_xticks(range(len(labels)), labels, fontsize=8)


def _wrap(label: str, *, width: int = 18) -> str:
    return textwrap.fill(label, width=width, max_lines=3, placeholder="…", break_on_hyphens=False)


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
