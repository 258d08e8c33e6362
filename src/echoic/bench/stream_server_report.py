"""How ``echoic bench stream-server`` results leave the process: a table, JSON, a PNG.

The table has one column per endpoint (first-draft and final latency P50/P95/max, streaming WER,
reference utterances matched, finals per reference); the plot shows each utterance's first-draft
and final latency per endpoint, side by side.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from echoic.bench.report import write_with_plot
from echoic.bench.stream_server import ServerStreamResult

_METRICS = (("first draft", "first_draft_s"), ("final", "final_s"))


def print_server_stream_table(result: ServerStreamResult, console: Console | None = None) -> None:
    """One column per endpoint: latency P50/P95/max (s), streaming WER, matches."""
    console = console or Console()
    first = next(iter(result.results.values()))
    m = first.machine
    table = Table(
        title=f"streaming latency through echoic serve · {result.model} · real time · "
        f"{result.chunk_ms} ms chunks · {m.device} {m.compute_type} · "
        f"{len(first.runs)} sessions, {len(first.utterances)} utterances"
    )
    table.add_column("metric")
    for via in result.results:
        table.add_column(f"/v1/{via}", justify="right")
    rs = list(result.results.values())
    for label, metric in _METRICS:
        spreads = [r.latency(metric) for r in rs]
        for q, name in (("p50", "P50"), ("p95", "P95"), ("max", "max")):
            table.add_row(f"{label} {name} (s)", *(_n(getattr(s, q)) for s in spreads))
    table.add_row("streaming WER %", *(f"{r.streaming_counts.wer * 100:.2f}" for r in rs))
    table.add_row(
        "utterances matched",
        *(f"{r.matches.references - r.matches.no_final}/{r.matches.references}" for r in rs),
    )
    table.add_row(
        "finals per utterance 1/0/>1",
        *(f"{r.matches.one_final}/{r.matches.no_final}/{r.matches.several_finals}" for r in rs),
    )
    table.add_row("words in gaps", *(str(r.matches.gap_words) for r in rs))
    console.print(table)


def write_server_stream_report(
    result: ServerStreamResult, json_path: Path, png_path: Path | None = None
) -> tuple[Path, Path]:
    """Write the JSON report and the plot (``png_path``, default: beside the JSON)."""
    return write_with_plot(result, json_path, png_path, lambda png: plot_server_stream(result, png))


def plot_server_stream(result: ServerStreamResult, path: Path) -> Path:
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(_METRICS), squeeze=False)[0]
    width = 0.8 / max(1, len(result.results))
    for ax, (label, metric) in zip(axes, _METRICS, strict=True):
        for n, (via, r) in enumerate(result.results.items()):
            values = [getattr(u, metric) for _, u in r.utterances]
            xs = [i + (n - (len(result.results) - 1) / 2) * width for i in range(len(values))]
            heights = [v if v is not None else float("nan") for v in values]
            s = r.latency(metric)
            ax.bar(xs, heights, width, label=f"/v1/{via} · P50 {_s(s.p50)} · P95 {_s(s.p95)}")
        ax.set(xlabel="reference utterance (all sessions)", ylabel="seconds", title=label)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"echoic serve · {result.model} · {result.chunk_ms} ms chunks in real time · "
        "latency per utterance by endpoint",
        fontsize=10,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def _n(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f} s"
