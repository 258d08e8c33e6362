"""``echoic bench``: accuracy and speed, measured the way EVAL.md describes.

Each command prints a table, writes a JSON report and a PNG plot (``--out``, default under
``bench-results/``). This module holds the group, the options its commands share, and ``wer``
and ``speed``; each other command has its module beside it (``bench_stream``,
``bench_stream_server``, ``bench_rest``, ``bench_jobs``, ``bench_sessions``, ``bench_turns``,
``bench_diarization``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from echoic.cli.app import cli, reports_errors, settings_of
from echoic.engines.faster_whisper import DeviceConfig
from echoic.types import TranscribeOptions

_DEFAULT_DATA = Path("../shared/eval/dev")


def _transcribe_options(beam_size: int, language: str | None, vad: bool) -> TranscribeOptions:
    return TranscribeOptions(beam_size=beam_size, language=language, vad_filter=vad)


@cli.group()
def bench() -> None:
    """Benchmarks: WER, speed and overhead, streaming latency, REST throughput."""


_model = click.option("-m", "--model", default=None, help="Model (default: settings).")
_beam = click.option("--beam-size", type=click.IntRange(1, 10), default=5, show_default=True)
_language = click.option("-l", "--language", default=None, help="Force a language (e.g. en).")
_vad = click.option("--vad/--no-vad", default=True, show_default=True, help="Silero VAD filter.")
_threads = click.option(
    "--threads", "cpu_threads", type=click.IntRange(min=0), default=None, help="CPU threads."
)
#: Live-benchmark sessions (``echoic bench stream``, ``stream-server``).
_sessions = click.option(
    "--sessions",
    "sessions",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    default=(_DEFAULT_DATA / "sessions",),
    show_default=True,
    help="Session WAVs with JSON sidecars, or directories of them.",
)
_out = click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSON report path (the PNG goes beside it).",
)


def _device(ctx: click.Context, cpu_threads: int | None) -> DeviceConfig:
    settings = settings_of(ctx)
    return DeviceConfig(
        device=settings.device,
        compute_type=settings.compute_type,
        cpu_threads=settings.cpu_threads if cpu_threads is None else cpu_threads,
        workers=settings.workers,
    )


@bench.command("wer")
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=_DEFAULT_DATA / "manifest.jsonl",
    show_default=True,
)
@_model
@_beam
@_language
@_vad
@_threads
@click.option("--limit", type=click.IntRange(min=1), default=None, help="First N utterances.")
@click.option(
    "--compare-plain/--no-compare-plain",
    default=True,
    show_default=True,
    help="Also run plain faster-whisper with identical options, interleaved.",
)
@_out
@click.pass_context
@reports_errors
def bench_wer(
    ctx: click.Context,
    manifest: Path,
    model: str | None,
    beam_size: int,
    language: str | None,
    vad: bool,
    cpu_threads: int | None,
    limit: int | None,
    compare_plain: bool,
    out: Path | None,
) -> None:
    """Corpus WER (Whisper's English normalizer, jiwer) over a manifest."""
    from echoic.bench import WerOptions, load_engine, print_report, run_wer, save_report

    settings = settings_of(ctx)
    loaded = load_engine(model or settings.model, settings.models_dir, _device(ctx, cpu_threads))
    options = WerOptions(
        manifest=manifest,
        transcribe=_transcribe_options(beam_size, language, vad),
        limit=limit,
        compare_plain=compare_plain,
    )
    result = run_wer(loaded, options)
    print_report(result)
    json_path, png_path = save_report(result, out)
    click.echo(f"report: {json_path}  plot: {png_path}", err=True)


@bench.command("speed")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--longform",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Long file for batched vs sequential throughput (default: the dev long-form file).",
)
@click.option("--no-longform", is_flag=True, help="Skip the batched vs sequential comparison.")
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True)
@_model
@_beam
@_language
@_vad
@_threads
@_out
@click.pass_context
@reports_errors
def bench_speed(
    ctx: click.Context,
    files: tuple[Path, ...],
    longform: Path | None,
    no_longform: bool,
    repeats: int,
    model: str | None,
    beam_size: int,
    language: str | None,
    vad: bool,
    cpu_threads: int | None,
    out: Path | None,
) -> None:
    """RTFx and overhead ratio vs plain faster-whisper (interleaved), batched vs sequential."""
    from echoic.bench import (
        SpeedOptions,
        default_speed_files,
        default_throughput_file,
        load_engine,
        print_report,
        run_speed,
        save_report,
    )

    settings = settings_of(ctx)
    loaded = load_engine(model or settings.model, settings.models_dir, _device(ctx, cpu_threads))
    throughput = None if no_longform else (longform or default_throughput_file(_DEFAULT_DATA))
    options = SpeedOptions(
        files=files or default_speed_files(_DEFAULT_DATA),
        throughput_file=throughput,
        repeats=repeats,
        transcribe=replace(
            _transcribe_options(beam_size, language, vad), batch_size=settings.batch_size
        ),
    )
    result = run_speed(
        loaded,
        options,
        on_run=lambda name, path, s: click.echo(
            f"  {name:<22} {path.name:<40} {s:7.3f} s", err=True
        ),
    )
    print_report(result)
    json_path, png_path = save_report(result, out)
    click.echo(f"report: {json_path}  plot: {png_path}", err=True)
