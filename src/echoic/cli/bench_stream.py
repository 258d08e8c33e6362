"""``echoic bench stream``: streaming latency and accuracy of the live pipeline in process, on
session files (:mod:`echoic.bench.stream`); with ``--compare`` the draft/confirm pairings side by
side (:mod:`echoic.bench.stream_compare`), with ``--concurrency`` how many streams one machine
holds (:mod:`echoic.bench.stream_sweep`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from echoic.cli.app import reports_errors, settings_of
from echoic.cli.bench import (
    _device,
    _language,
    _model,
    _out,
    _sessions,
    _threads,
    bench,
)
from echoic.types import TranscribeOptions

if TYPE_CHECKING:
    from echoic.bench.stream import DecodeSettings, StreamBenchOptions
    from echoic.vad.state import VadConfig


def _pad(text: str | None, option: str) -> float | str | None:
    """``--*-pad``: seconds of encoder padding, ``full`` (30 s window: ``None``); unset: ``""``."""
    if text is None:
        return ""
    if text.strip().lower() in ("full", "none"):
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        raise click.BadParameter(f"{text!r} is neither seconds (≥ 0) nor 'full'", param_hint=option)
    return seconds


def _turn_vad(
    vad: VadConfig,
    silence_ms: int | None,
    end_of_sentence_ms: int | None,
    mid_sentence_ms: int | None,
    min_speech_ms: int | None = None,
) -> VadConfig:
    """The live VAD with the end-of-turn waits and the onset given (as a stream's ``vad``
    overrides)."""
    from echoic.streaming.protocol import VadOverrides

    overrides = VadOverrides(
        min_speech_ms=min_speech_ms,
        silence_ms=silence_ms,
        end_of_sentence_ms=end_of_sentence_ms,
        mid_sentence_ms=mid_sentence_ms,
    )
    try:
        return overrides.apply(vad)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def _decode_settings(
    beam: int | None, pad: str | None, option: str, default: TranscribeOptions
) -> DecodeSettings | None:
    """Overrides of one decode kind from the CLI; ``None`` when neither was given."""
    from echoic.bench.stream import DecodeSettings

    padding = _pad(pad, option)
    if beam is None and padding == "":
        return None
    return DecodeSettings(
        beam_size=default.beam_size if beam is None else beam,
        encoder_pad_s=default.encoder_pad_s if isinstance(padding, str) else padding,
    )


@bench.command("stream")
@_sessions
@_model
@click.option(
    "--confirm-model",
    default=None,
    help="Dual-model (speculative) mode: this model confirms and finalizes what --model drafts "
    "(one CPU thread per model unless --threads).",
)
@click.option(
    "--confirm-interval-ms",
    type=click.IntRange(min=100),
    default=1000,
    show_default=True,
    help="Dual-model mode: confirm the open utterance this often.",
)
@click.option(
    "--skip-confirm-logprob",
    type=click.FloatRange(max=0.0),
    default=None,
    metavar="LOGPROB",
    help="Dual-model mode: the drafting model makes the final when its newest draft's average "
    "token log-probability is at least this (e.g. -0.3); default: the heavy model always does.",
)
@click.option(
    "--silence-ms",
    type=click.IntRange(min=100),
    default=None,
    help="Trailing silence that ends an utterance whose words do not tell whether it is over "
    "(alone: the only wait, end of turn by silence alone).",
)
@click.option(
    "--min-speech-ms",
    type=click.IntRange(min=0),
    default=None,
    help="Speech that starts an utterance (default: the live VAD's, 100).",
)
@click.option(
    "--end-of-sentence-ms",
    type=click.IntRange(min=100),
    default=None,
    help="End of turn: the silence after words that end a sentence.",
)
@click.option(
    "--mid-sentence-ms",
    type=click.IntRange(min=100),
    default=None,
    help="End of turn: the silence after words that stop mid-sentence (the longest wait).",
)
@click.option("--draft-beam", type=click.IntRange(1, 10), default=None, help="Draft beam size.")
@click.option(
    "--draft-pad",
    default=None,
    metavar="SECONDS|full",
    help="Draft encoder input: window + SECONDS, or 'full' (30 s).",
)
@click.option(
    "--final-beam", type=click.IntRange(1, 10), default=None, help="Final/confirm beam size."
)
@click.option(
    "--final-pad",
    default=None,
    metavar="SECONDS|full",
    help="Final/confirm encoder input: window + SECONDS, or 'full' (30 s).",
)
@_language
@click.option(
    "--compare",
    is_flag=True,
    help="Run tiny.en, base, tiny.en → base and tiny.en → tiny.en (beam 5, full window) on the "
    "same sessions, one after another, and print one row each.",
)
@click.option(
    "--mode",
    type=click.Choice(["single", "speculative"]),
    default=None,
    help="speculative: the same run as --compare (single and dual-model side by side); "
    "single: one configuration, as --model / --confirm-model say.",
)
@click.option(
    "--concurrency",
    default=None,
    metavar="K,K,…",
    help="Concurrency sweep: K copies of the first session at once through one shared "
    "scheduler set, for each K (e.g. 1,2,4,8).",
)
@click.option(
    "--loops",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Sweep: each stream plays the session this many times back to back.",
)
@click.option("--sweep-all", is_flag=True, help="Sweep: go on past the first K that fails.")
@click.option(
    "--stagger",
    is_flag=True,
    help="Sweep: start the K streams spread over one utterance period instead of all at once "
    "(utterances end at independent moments rather than at the same instant).",
)
@click.option(
    "--draft-batch",
    type=click.IntRange(1, 16),
    default=None,
    help="Drafts of several streams one batched call runs at most; 1: one by one "
    "(default: ECHOIC_DRAFT_BATCH, 8).",
)
@click.option(
    "--final-batch",
    type=click.IntRange(1, 16),
    default=None,
    help="Finals of several streams one batched call runs at most, split between the cores; "
    "1: one by one (default: ECHOIC_FINAL_BATCH, 6).",
)
@click.option(
    "--final-headroom",
    type=click.IntRange(0, 4),
    default=None,
    help="Dual-model mode: finals that may run over the compute slots, beside the drafts and "
    "confirmations holding them (default 1; 0: a final waits for a free slot).",
)
@click.option(
    "--confirm-words/--no-confirm-words",
    default=False,
    show_default=True,
    help="Dual-model mode: confirmations align word timings too, as they used to (nothing reads "
    "them; their CPU is the finals' and drafts').",
)
@click.option(
    "--diarize",
    is_flag=True,
    help="Label finals with speakers, as a stream with diarization: true does (its cost on "
    "final latency).",
)
@click.option("--realtime/--fast", default=True, show_default=True, help="Pace by the wall clock.")
@click.option("--chunk-ms", type=click.IntRange(5, 1000), default=20, show_default=True)
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True)
@click.option(
    "--batch/--no-batch", default=True, show_default=True, help="Batch WER for the penalty."
)
@_threads
@_out
@click.pass_context
@reports_errors
def bench_stream(
    ctx: click.Context,
    sessions: tuple[Path, ...],
    model: str | None,
    confirm_model: str | None,
    confirm_interval_ms: int,
    skip_confirm_logprob: float | None,
    silence_ms: int | None,
    end_of_sentence_ms: int | None,
    mid_sentence_ms: int | None,
    min_speech_ms: int | None,
    draft_beam: int | None,
    draft_pad: str | None,
    final_beam: int | None,
    final_pad: str | None,
    language: str | None,
    compare: bool,
    mode: str | None,
    concurrency: str | None,
    loops: int,
    sweep_all: bool,
    stagger: bool,
    draft_batch: int | None,
    final_batch: int | None,
    final_headroom: int | None,
    confirm_words: bool,
    diarize: bool,
    realtime: bool,
    chunk_ms: int,
    repeat: int,
    batch: bool,
    cpu_threads: int | None,
    out: Path | None,
) -> None:
    """Streaming latency (first draft, final, final text) and WER penalty vs batch (EVAL.md).

    \b
    echoic bench stream                                  # tiny.en, single-model
    echoic bench stream --confirm-model base             # tiny.en drafts, base confirms
    echoic bench stream --compare                        # the four pairings, one row each
    echoic bench stream --mode speculative               # the same comparison
    echoic bench stream --concurrency 1,2,4,8            # largest K real-time streams that hold
    echoic bench stream --concurrency 4,8,12 --stagger   # the same, streams not in lockstep
    echoic bench stream --diarize                        # finals labelled with speakers
    """
    from echoic.bench import default_report_path
    from echoic.bench.stream import StreamBenchOptions, run_stream_bench
    from echoic.bench.stream_report import print_stream_table, write_stream_report
    from echoic.streaming.config import StreamConfig
    from echoic.streaming.scheduler import DUAL_FINAL_HEADROOM

    compare = compare or mode == "speculative"
    if compare and concurrency is not None:
        raise click.UsageError("--compare and --concurrency are separate runs; give one")
    if diarize and (compare or concurrency is not None):
        raise click.UsageError("--diarize measures one configuration: drop --compare/--concurrency")
    overrides = (draft_beam, draft_pad, final_beam, final_pad)
    if compare and (
        confirm_model is not None or model is not None or any(o is not None for o in overrides)
    ):
        raise click.UsageError(
            "--compare runs fixed configurations: drop --model, --confirm-model and the "
            "--draft-*/--final-* overrides"
        )
    settings = settings_of(ctx)
    model = model or settings.model
    defaults = StreamConfig()
    options = StreamBenchOptions(
        sessions=sessions,
        models_dir=settings.models_dir,
        model=model,
        confirm_model=confirm_model,
        confirm_interval_ms=confirm_interval_ms,
        draft=_decode_settings(draft_beam, draft_pad, "--draft-pad", defaults.draft_options),
        final=_decode_settings(final_beam, final_pad, "--final-pad", defaults.final_options),
        language=language,
        realtime=realtime,
        chunk_ms=chunk_ms,
        repeat=repeat,
        compare_batch=batch,
        device=_device(ctx, cpu_threads),
        max_batch=settings.draft_batch if draft_batch is None else draft_batch,
        final_headroom=DUAL_FINAL_HEADROOM if final_headroom is None else final_headroom,
        final_batch=settings.final_batch if final_batch is None else final_batch,
        stream=replace(
            defaults,
            skip_confirm_logprob=skip_confirm_logprob,
            vad=_turn_vad(
                defaults.vad, silence_ms, end_of_sentence_ms, mid_sentence_ms, min_speech_ms
            ),
            diarization=diarize,
            confirm_word_timestamps=confirm_words,
        ),
    )
    if compare:
        _stream_compare(options, out)
    elif concurrency is not None:
        _stream_sweep(
            options, concurrency, loops=loops, stop=not sweep_all, stagger=stagger, out=out
        )
    else:
        result = run_stream_bench(
            options, on_session=lambda run: click.echo(f"  streamed {run.session}", err=True)
        )
        print_stream_table(result)
        name = f"{model}-{confirm_model}" if confirm_model else model
        name += "-diarized" if diarize else ""
        json_path, png_path = write_stream_report(
            result, out or default_report_path("stream", name)
        )
        click.echo(f"report: {json_path}  plot: {png_path}", err=True)


def _stream_compare(options: StreamBenchOptions, out: Path | None) -> None:
    from echoic.bench import default_report_path
    from echoic.bench.stream_compare import (
        print_compare_table,
        run_compare,
        write_compare_report,
    )

    result = run_compare(
        options,
        on_config=lambda config: click.echo(f"({config.key}) {config.name}", err=True),
        on_session=lambda _config, run: click.echo(
            f"  streamed {run.session}: WER {run.counts.wer * 100:.2f} %, "
            f"{run.frames_dropped} frames dropped",
            err=True,
        ),
    )
    print_compare_table(result)
    json_path, png_path = write_compare_report(
        result, out or default_report_path("stream-compare", "pairings")
    )
    click.echo(f"report: {json_path}  plot: {png_path}", err=True)


def _stream_sweep(
    options: StreamBenchOptions,
    levels: str,
    *,
    loops: int,
    stop: bool,
    stagger: bool,
    out: Path | None,
) -> None:
    from echoic.bench import default_report_path
    from echoic.bench.stream_sweep import (
        SweepOptions,
        parse_levels,
        print_sweep_table,
        run_sweep,
        write_sweep_report,
    )

    try:
        parsed = parse_levels(levels)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--concurrency") from exc
    sweep = SweepOptions(
        bench=options, levels=parsed, loops=loops, stop_at_failure=stop, stagger=stagger
    )
    result = run_sweep(
        sweep,
        on_level=lambda level, verdict: click.echo(
            f"  K={level.k}: final P95 {level.summary.final.p95 or 0:.3f} s, "
            f"{level.summary.frames_dropped} frames dropped: "
            f"{'holds' if verdict.holds else 'does not hold'}",
            err=True,
        ),
    )
    print_sweep_table(result)
    name = options.label.replace(" → ", "-")
    json_path, png_path = write_sweep_report(
        result, out or default_report_path("stream-sweep", name)
    )
    click.echo(f"report: {json_path}  plot: {png_path}", err=True)
