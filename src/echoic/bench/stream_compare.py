"""``echoic bench stream --compare``: model pairings side by side on the same sessions.

Every configuration streams the same session files, one after another in one process, under the
same conditions (real time by default), then transcribes the files in batch with its confirming
model (beam 5, in the stream's language). One row per configuration:

- first-draft and final latency P50 / P95 (EVAL.md "Streaming latency");
- the streaming WER of the finals, the batch WER of the confirming model on the same files, and
  the gap between them (the streaming penalty; goal ≤ 0.5 points);
- CPU seconds per audio second (every thread of the process) and audio frames dropped.

The default set (:data:`DEFAULT_CONFIGS`) is the one issue 4 asks for: tiny.en alone, base
alone, tiny.en drafts confirmed by base, tiny.en drafts confirmed by tiny.en decoding the full
30 s window with beam 5, and the pairing speculative mode defaults to: tiny.en confirming its
own drafts with the live final settings (beam 5, window + 5 s).

    result = run_compare(StreamBenchOptions(sessions=..., models_dir=...))
    print_compare_table(result)
    write_compare_report(result, Path("compare.json"))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from echoic.bench.report import write_with_plot
from echoic.bench.stream import DecodeSettings, StreamBenchOptions, run_stream_bench
from echoic.bench.stream_result import SessionRun, StreamBenchResult


@dataclass(frozen=True, kw_only=True)
class CompareConfig:
    """One configuration of the comparison: a model, or a drafting → confirming pair."""

    key: str
    model: str
    confirm_model: str | None = None
    #: Overrides of the default StreamConfig's draft / final decodes (``None``: keep them).
    draft: DecodeSettings | None = None
    final: DecodeSettings | None = None

    @property
    def name(self) -> str:
        name = f"{self.model} → {self.confirm_model}" if self.confirm_model else self.model
        if self.final is not None:
            name += f" ({self.final.label})"
        return name

    def options(self, base: StreamBenchOptions) -> StreamBenchOptions:
        return replace(
            base,
            model=self.model,
            confirm_model=self.confirm_model,
            draft=self.draft,
            final=self.final,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "model": self.model,
            "confirm_model": self.confirm_model,
            "draft": None if self.draft is None else self.draft.label,
            "final": None if self.final is None else self.final.label,
        }


#: Issue 4's comparison. The drafts of (d) and (e) are the default StreamConfig's (greedy, short
#: encoder input); the confirmations and finals of (d) decode the full 30 s window with beam 5,
#: those of (e) the window + 5 s with beam 5 (the default final settings).
DEFAULT_CONFIGS: tuple[CompareConfig, ...] = (
    CompareConfig(key="a", model="tiny.en"),
    CompareConfig(key="b", model="base"),
    CompareConfig(key="c", model="tiny.en", confirm_model="base"),
    CompareConfig(
        key="d",
        model="tiny.en",
        confirm_model="tiny.en",
        final=DecodeSettings(beam_size=5, encoder_pad_s=None),
    ),
    CompareConfig(key="e", model="tiny.en", confirm_model="tiny.en"),
)


@dataclass(frozen=True, kw_only=True)
class CompareRow:
    """The figures of one configuration (latencies in seconds, WERs as fractions)."""

    key: str
    name: str
    utterances: int
    no_final: int
    first_draft_p50: float | None
    first_draft_p95: float | None
    final_p50: float | None
    final_p95: float | None
    wer: float
    batch_wer: float | None
    cpu_per_audio_s: float
    frames_dropped: int
    aborted: int

    @property
    def gap(self) -> float | None:
        """Streaming WER − batch WER of the confirming model (a fraction; × 100 for points)."""
        return None if self.batch_wer is None else self.wer - self.batch_wer

    @classmethod
    def of(cls, config: CompareConfig, result: StreamBenchResult) -> CompareRow:
        draft, final, batch = result.first_draft, result.final, result.batch_counts
        return cls(
            key=config.key,
            name=config.name,
            utterances=len(result.utterances),
            no_final=result.matches.no_final,
            first_draft_p50=draft.p50,
            first_draft_p95=draft.p95,
            final_p50=final.p50,
            final_p95=final.p95,
            wer=result.streaming_counts.wer,
            batch_wer=None if batch is None else batch.wer,
            cpu_per_audio_s=result.cpu_per_audio_s,
            frames_dropped=result.frames_dropped,
            aborted=sum(1 for run in result.runs if run.aborted),
        )

    def cells(self) -> list[str]:
        """The row as the table prints it."""
        gap = self.gap
        return [
            f"({self.key}) {self.name}",
            _s(self.first_draft_p50),
            _s(self.first_draft_p95),
            _s(self.final_p50),
            _s(self.final_p95),
            f"{self.wer * 100:.2f}",
            "–" if self.batch_wer is None else f"{self.batch_wer * 100:.2f}",
            "–" if gap is None else f"{gap * 100:+.2f}",
            f"{self.cpu_per_audio_s:.3f}",
            str(self.frames_dropped),
            f"{self.utterances - self.no_final}/{self.utterances}",
        ]

    def to_dict(self) -> dict[str, Any]:
        gap = self.gap
        return {
            "key": self.key,
            "name": self.name,
            "utterances": self.utterances,
            "no_final": self.no_final,
            "first_draft_s": {"p50": _r(self.first_draft_p50), "p95": _r(self.first_draft_p95)},
            "final_s": {"p50": _r(self.final_p50), "p95": _r(self.final_p95)},
            "wer_pct": round(self.wer * 100, 3),
            "batch_wer_pct": None if self.batch_wer is None else round(self.batch_wer * 100, 3),
            "gap_points": None if gap is None else round(gap * 100, 3),
            "cpu_per_audio_s": round(self.cpu_per_audio_s, 4),
            "frames_dropped": self.frames_dropped,
            "aborted_streams": self.aborted,
        }


COLUMNS = (
    "configuration",
    "draft P50",
    "draft P95",
    "final P50",
    "final P95",
    "WER %",
    "batch WER %",
    "gap pts",
    "CPU s/s",
    "dropped",
    "finals",
)


@dataclass(frozen=True, kw_only=True)
class CompareResult:
    created_at: str
    realtime: bool
    sessions: tuple[str, ...]
    entries: tuple[tuple[CompareConfig, StreamBenchResult], ...]

    kind: ClassVar[str] = "stream-compare"

    @property
    def rows(self) -> list[CompareRow]:
        return [CompareRow.of(config, result) for config, result in self.entries]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "created_at": self.created_at,
            "mode": "realtime" if self.realtime else "fast",
            "sessions": list(self.sessions),
            "rows": [row.to_dict() for row in self.rows],
            "configs": [
                {**config.to_dict(), "result": result.to_dict()} for config, result in self.entries
            ],
        }


def run_compare(
    base: StreamBenchOptions,
    configs: Sequence[CompareConfig] = DEFAULT_CONFIGS,
    *,
    on_config: Callable[[CompareConfig], None] | None = None,
    on_session: Callable[[CompareConfig, SessionRun], None] | None = None,
) -> CompareResult:
    """Run every configuration on ``base``'s sessions, one after another (models loaded per
    configuration: one thread per model in dual-model mode, as the device allows otherwise)."""
    entries: list[tuple[CompareConfig, StreamBenchResult]] = []
    for config in configs:
        if on_config is not None:
            on_config(config)
        callback = None
        if on_session is not None:
            callback = _bind(on_session, config)
        entries.append((config, run_stream_bench(config.options(base), on_session=callback)))
    first = entries[0][1] if entries else None
    return CompareResult(
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        realtime=base.realtime,
        sessions=tuple(dict.fromkeys(run.session for run in first.runs)) if first else (),
        entries=tuple(entries),
    )


def _bind(
    callback: Callable[[CompareConfig, SessionRun], None], config: CompareConfig
) -> Callable[[SessionRun], None]:
    return lambda run: callback(config, run)


def print_compare_table(result: CompareResult, console: Console | None = None) -> None:
    console = console or Console()
    mode = "real time" if result.realtime else "fast (not real time: latencies are not a user's)"
    table = Table(
        title=f"streaming comparison · {mode} · {', '.join(result.sessions)} · latencies in s "
        "(draft: after speech onset; final: after speech end)"
    )
    for index, column in enumerate(COLUMNS):
        table.add_column(column, justify="left" if index == 0 else "right", no_wrap=index == 0)
    for row in result.rows:
        table.add_row(*row.cells())
    console.print(table)
    console.print(
        "WER: streaming finals; batch WER: the confirming model on the same files (beam 5); "
        "gap = WER − batch WER (goal ≤ 0.5 points)"
    )


def write_compare_report(
    result: CompareResult, json_path: Path, png_path: Path | None = None
) -> tuple[Path, Path]:
    return write_with_plot(
        result,
        json_path,
        png_path,
        lambda png: plot_compare(result.rows, png, realtime=result.realtime),
    )


def plot_compare(rows: Sequence[CompareRow], path: Path, *, realtime: bool = True) -> Path:
    """Grouped bars: latencies (s), WER (streaming vs batch, %), CPU s per audio s."""
    fig = Figure(figsize=(14, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    latency_ax, wer_ax, cpu_ax = fig.subplots(1, 3, width_ratios=[4, 2, 1])
    labels = [f"({r.key}) {r.name}" for r in rows]
    _bars(
        latency_ax,
        ["draft P50", "draft P95", "final P50", "final P95"],
        [[r.first_draft_p50, r.first_draft_p95, r.final_p50, r.final_p95] for r in rows],
        labels,
        "seconds",
    )
    _bars(
        wer_ax,
        ["streaming", "batch (confirming model)"],
        [[r.wer * 100, None if r.batch_wer is None else r.batch_wer * 100] for r in rows],
        labels,
        "WER %",
    )
    _bars(cpu_ax, ["CPU s / audio s"], [[r.cpu_per_audio_s] for r in rows], labels, "")
    latency_ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(
        f"streaming comparison · {'real time' if realtime else 'fast (not real time)'}",
        fontsize=10,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def _bars(
    ax: Any,
    groups: list[str],
    values: list[list[float | None]],
    labels: list[str],
    ylabel: str,
) -> None:
    n = max(1, len(values))
    width = 0.8 / n
    for index, (series, label) in enumerate(zip(values, labels, strict=True)):
        xs = [g + (index - (n - 1) / 2) * width for g in range(len(groups))]
        heights = [0.0 if v is None else v for v in series]
        bars = ax.bar(xs, heights, width, label=label)
        ax.bar_label(bars, labels=["–" if v is None else f"{v:.2f}" for v in series], fontsize=6)
    ax.set_xticks(range(len(groups)), groups, fontsize=8)
    ax.set_ylabel(ylabel)


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
