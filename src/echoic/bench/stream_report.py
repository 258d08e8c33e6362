"""How ``echoic bench stream`` results leave the process: rich tables, JSON, a PNG timeline.

The timeline has one row per session (the first repeat), on the audio time axis: reference speech
as shaded spans, the endpointer's cuts, drafts as small ticks and finals as large diamonds at their
arrival (audio time ``x`` is sent at ``t0 + x`` in real time), each final linked to the end of the
speech it settles, so the final latency reads as the length of the link.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from echoic.bench.report import write_with_plot
from echoic.bench.stream_metrics import MatchCounts, Spread
from echoic.bench.stream_result import LATENCY_KEYS, SessionRun, StreamBenchResult
from echoic.streaming.events import EventType

_REF_COLOR, _DRAFT_COLOR, _FINAL_COLOR, _GAP_COLOR = "#c7dcef", "#888888", "#1f77b4", "#d62728"
_LATENCY_ROWS = (
    ("first draft (s after speech onset)", "first_draft_s"),
    ("final (s after speech end)", "final_s"),
    ("final text (s after speech end)", "final_text_s"),
)


def print_stream_table(result: StreamBenchResult, console: Console | None = None) -> None:
    """Latency percentiles, the finals' latency breakdown, and WER/matching per session."""
    console = console or Console()
    m = result.machine
    mode = "real time" if result.realtime else "fast (not real time: latencies are not a user's)"
    table = Table(
        title=f"streaming latency · {result.label} · {mode} · {result.chunk_ms} ms chunks · "
        f"{m.device} {m.compute_type} {m.cpu_threads} threads"
    )
    table.add_column("metric")
    for col in ("n", "P50", "P95", "max"):
        table.add_column(col, justify="right")
    for label, metric in _LATENCY_ROWS:
        table.add_row(label, *_cells(result.latency(metric), seconds=True))
    for key in LATENCY_KEYS:
        table.add_row(f"final {key} (record)", *_cells(result.breakdown(key), seconds=False))
    console.print(table)

    wer = Table(title="streaming vs batch WER · finals per reference utterance (1/0/>1)")
    wer.add_column("session", no_wrap=True)
    for col in ("words", "WER %", "batch %", "Δ pts", "1/0/>1", "gap words", "dropped", "CPU s/s"):
        wer.add_column(col, justify="right")
    batch = {b.session: b for b in result.batch}
    repeats = len({run.repeat for run in result.runs}) > 1
    for run in result.runs:
        b = batch.get(run.session)
        wer.add_row(
            f"{run.session} #{run.repeat + 1}" if repeats else run.session,
            str(run.counts.words),
            _pct(run.counts.wer),
            _pct(b.counts.wer) if b else "",
            f"{(run.counts.wer - b.counts.wer) * 100:+.2f}" if b else "",
            _matched(run.matches),
            str(run.matches.gap_words),
            str(run.frames_dropped),
            f"{run.cpu_per_audio_s:.3f}",
        )
    matches, stats, streaming = result.matches, result.scheduler, result.streaming_counts
    batch_counts, penalty = result.batch_counts, result.penalty
    wer.add_row(
        "all",
        str(streaming.words),
        _pct(streaming.wer),
        _pct(batch_counts.wer) if batch_counts else "",
        f"{penalty * 100:+.2f}" if penalty is not None else "",
        _matched(matches),
        str(matches.gap_words),
        str(result.frames_dropped),
        f"{result.cpu_per_audio_s:.3f}",
        style="bold",
    )
    console.print(wer)
    for run in result.runs:
        if run.aborted:
            console.print(f"[red]{run.session} (repeat {run.repeat}) aborted: {run.aborted}[/red]")
    partials = sum(run.partials for run in result.runs)
    console.print(
        f"{len(result.utterances)} utterances · {result.audio_s:.1f} s of audio · "
        f"{matches.merged_finals} merged finals · {matches.gap_finals} finals in gaps · "
        f"{partials} drafts shown · decodes {stats.drafts} draft + {stats.finals} final "
        f"({stats.superseded} superseded), busy {stats.busy_s:.1f} s, queued "
        f"{stats.wait_s_total:.1f} s · peak RSS {result.peak_rss_mb:.0f} MiB"
    )


def write_stream_report(
    result: StreamBenchResult, json_path: Path, png_path: Path | None = None
) -> tuple[Path, Path]:
    """Write the JSON report and the timeline (``png_path``, default: beside the JSON)."""
    return write_with_plot(
        result, json_path, png_path, lambda png: plot_stream_timeline(result, png)
    )


def plot_stream_timeline(result: StreamBenchResult, path: Path) -> Path:
    runs = [run for run in result.runs if run.repeat == 0]
    fig = Figure(figsize=(14, 1.2 + 1.6 * len(runs)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(runs), 1, squeeze=False)[:, 0]
    for ax, run in zip(axes, runs, strict=True):
        _plot_run(ax, run)
    axes[-1].set_xlabel(
        "audio seconds; markers: arrival (t0 + x)"
        if result.realtime
        else "audio seconds; markers: the audio time + the event's delay after that audio was sent"
    )
    final, draft = result.latency("final_s"), result.latency("first_draft_s")
    fig.suptitle(
        f"{result.label} · {'real time' if result.realtime else 'fast'} · final latency "
        f"P50 {_s(final.p50)} P95 {_s(final.p95)} · first draft P50 {_s(draft.p50)} "
        f"P95 {_s(draft.p95)}",
        fontsize=10,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def _plot_run(ax: Axes, run: SessionRun) -> None:
    for ref in run.references:
        ax.axvspan(ref.speech_start_s, ref.speech_end_s, color=_REF_COLOR, zorder=0)
    for span in run.spans:  # what the endpointer cut (audio time)
        color = _GAP_COLOR if span.reference is None else _FINAL_COLOR
        ax.plot([span.audio_start_s, span.audio_end_s], [2, 2], color=color, lw=3)
    drafts = [
        _on_audio_clock(run, r.at_s, float(r.event.data.get("audio_end_s") or 0.0))
        for r in run.events
        if r.type is EventType.PARTIAL
    ]
    ax.plot(drafts, [1] * len(drafts), "|", color=_DRAFT_COLOR, ms=8)
    latest = max([run.audio_s, *drafts])
    # The final that settles a reference links to the reference's end; the earlier parts of a
    # split reference, and finals in gaps, link to the end of their own audio.
    settling = {
        u.utterance_ids[-1]: u.reference.speech_end_s for u in run.utterances if u.utterance_ids
    }
    for span in run.spans:
        color = _GAP_COLOR if span.reference is None else _FINAL_COLOR
        end = settling.get(span.received.utterance_id or -1, span.audio_end_s)
        at = _on_audio_clock(run, span.received.at_s, end)
        ax.plot([end, at], [0, 0], color=color, lw=1.5)
        ax.plot([at], [0], "D", color=color, ms=7)
        latest = max(latest, at)
    ax.set_yticks([0, 1, 2], ["finals", "drafts", "VAD cut"], fontsize=8)
    ax.set_ylim(-0.6, 2.6)
    ax.set_xlim(0, latest + 0.5)
    ax.set_title(
        f"{run.session} · shaded: reference speech · {run.matches.one_final}/"
        f"{run.matches.references} matched once · {run.matches.gap_words} gap words",
        fontsize=9,
        loc="left",
    )


def _on_audio_clock(run: SessionRun, at_s: float, audio_s: float) -> float:
    """Where an arrival lands on the audio time axis, counted from when ``audio_s`` was sent.

    In real time this is the arrival itself (audio time ``x`` was sent at ``t0 + x``); in fast
    mode it keeps each event's delay after the audio it answers, though the audio came early.
    """
    return audio_s + at_s - run.send.sent_at(audio_s)


def _cells(value: Spread, *, seconds: bool) -> list[str]:
    def fmt(v: float | None) -> str:
        if v is None:
            return "–"
        return f"{v:.3f} s" if seconds else f"{v:.0f} ms"

    return [str(value.n), fmt(value.p50), fmt(value.p95), fmt(value.max)]


def _matched(m: MatchCounts) -> str:
    return f"{m.one_final}/{m.no_final}/{m.several_finals}"


def _pct(value: float) -> str:
    return f"{value * 100:.2f}"


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} s"
