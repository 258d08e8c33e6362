"""``echoic bench``: accuracy and speed, measured the way EVAL.md describes.

Each command prints a table, writes a JSON report and a PNG plot (``--out``, default under
``bench-results/``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from echoic.cli.app import cli, reports_errors, settings_of
from echoic.engines.faster_whisper import DeviceConfig
from echoic.types import TranscribeOptions

if TYPE_CHECKING:
    from echoic.bench.stream import DecodeSettings, StreamBenchOptions
    from echoic.vad.state import VadConfig

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
) -> VadConfig:
    """The live VAD with the end-of-turn waits given (as a stream's ``vad`` overrides)."""
    from echoic.streaming.protocol import VadOverrides

    overrides = VadOverrides(
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
@click.option(
    "--sessions",
    "sessions",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    default=(_DEFAULT_DATA / "sessions",),
    show_default=True,
    help="Session WAVs with JSON sidecars, or directories of them.",
)
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
        stream=replace(
            defaults,
            skip_confirm_logprob=skip_confirm_logprob,
            vad=_turn_vad(defaults.vad, silence_ms, end_of_sentence_ms, mid_sentence_ms),
            diarization=diarize,
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


@bench.command("stream-server")
@click.option(
    "--sessions",
    "sessions",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    default=(_DEFAULT_DATA / "sessions",),
    show_default=True,
    help="Session WAVs with JSON sidecars, or directories of them.",
)
@_model
@click.option(
    "--via",
    default="listen,realtime",
    show_default=True,
    metavar="ENDPOINT,…",
    help="WebSocket endpoints to stream through, in turn per session: listen (/v1/listen), "
    "realtime (/v1/realtime, OpenAI's protocol).",
)
@click.option("--chunk-ms", type=click.IntRange(min=1), default=20, show_default=True)
@_threads
@_out
@click.pass_context
@reports_errors
def bench_stream_server(
    ctx: click.Context,
    sessions: tuple[Path, ...],
    model: str | None,
    via: str,
    chunk_ms: int,
    cpu_threads: int | None,
    out: Path | None,
) -> None:
    """Streaming latency through a real echoic serve, per WebSocket endpoint, side by side.

    Starts echoic serve on loopback (auth off) and streams every session in real time through
    each endpoint in turn: first-draft and final latency (P50/P95/max), streaming WER, matches.

    echoic bench stream-server --via listen,realtime
    """
    from echoic.bench import default_report_path
    from echoic.bench.stream_server import ServerStreamOptions, run_server_stream_bench
    from echoic.bench.stream_server_report import (
        print_server_stream_table,
        write_server_stream_report,
    )

    vias = tuple(v.strip() for v in via.split(",") if v.strip())
    name = model or settings_of(ctx).model
    try:
        options = ServerStreamOptions(
            sessions=sessions,
            model=name,
            via=vias,
            chunk_ms=chunk_ms,
            device=_device(ctx, cpu_threads),
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--via") from exc
    result = run_server_stream_bench(
        options,
        on_run=lambda v, run: click.echo(
            f"  streamed {run.session} via /v1/{v}: WER {run.counts.wer * 100:.2f} %", err=True
        ),
    )
    print_server_stream_table(result)
    json_path, png_path = write_server_stream_report(
        result, out or default_report_path("stream-server", name)
    )
    click.echo(f"report: {json_path}  plot: {png_path}", err=True)


@bench.command("rest")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_model
@click.option(
    "--clients", default="1,2,4,8", show_default=True, metavar="N,N,…", help="Client counts."
)
@click.option(
    "--seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=20.0,
    show_default=True,
    help="How long each client count keeps its requests in flight.",
)
@click.option("--format", "response_format", default="json", show_default=True)
@click.option(
    "--url", default=None, help="An already running server (default: start echoic serve)."
)
@click.option("--api-key", default=None, envvar="ECHOIC_API_KEY", help="For --url.")
@_out
@click.pass_context
@reports_errors
def bench_rest(
    ctx: click.Context,
    file: Path,
    model: str | None,
    clients: str,
    seconds: float,
    response_format: str,
    url: str | None,
    api_key: str | None,
    out: Path | None,
) -> None:
    """REST throughput: N clients each keep one request for FILE in flight against a server.

    echoic bench rest ../shared/eval/dev/audio/jfk-inaugural-1961.wav --clients 1,2,4,8
    """
    from echoic.bench import default_report_path
    from echoic.bench.rest import (
        RestBenchOptions,
        print_rest_table,
        run_rest_bench,
        write_rest_report,
    )
    from echoic.bench.stream_sweep import parse_levels

    try:
        counts = parse_levels(clients, "client counts")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--clients") from exc
    options = RestBenchOptions(
        file=file,
        model=model or settings_of(ctx).model,
        clients=counts,
        seconds=seconds,
        response_format=response_format,
        url=url,
        api_key=api_key,
    )
    result = run_rest_bench(
        options,
        on_level=lambda level: click.echo(
            f"  {level.clients} clients: {level.requests} requests, {level.errors} errors",
            err=True,
        ),
    )
    print_rest_table(result)
    json_path, png_path = write_rest_report(
        result, out or default_report_path("rest", options.model)
    )
    click.echo(f"report: {json_path}  plot: {png_path}", err=True)


@bench.command("jobs")
@_model
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=_DEFAULT_DATA,
    show_default=True,
    help="The eval data: its long-form file, manifest.jsonl and the JFK clip.",
)
@click.option(
    "--workers",
    default="1,2",
    show_default=True,
    metavar="N,N,…",
    help="Worker process counts (each an `echoic worker` on one SQLite file).",
)
@click.option(
    "--repeat",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Copies of the long-form file submitted at once (0: none).",
)
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="First N manifest utterances."
)
@click.option("--no-manifest", is_flag=True, help="Submit no manifest utterances.")
@click.option(
    "--runs", type=click.IntRange(min=1), default=10, show_default=True, help="Latency rounds."
)
@click.option(
    "--clip",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Latency clip (default: the manifest's JFK clip).",
)
@click.option(
    "--throughput/--no-throughput",
    default=True,
    show_default=True,
    help="Measure audio hours per hour for each worker count.",
)
@click.option(
    "--latency/--no-latency",
    default=True,
    show_default=True,
    help="Measure the queue's added latency (job vs direct request).",
)
@_out
@click.pass_context
@reports_errors
def bench_jobs(
    ctx: click.Context,
    model: str | None,
    data: Path,
    workers: str,
    repeat: int,
    limit: int | None,
    no_manifest: bool,
    runs: int,
    clip: Path | None,
    throughput: bool,
    latency: bool,
    out: Path | None,
) -> None:
    """Jobs API: throughput (audio h/h) with 1, 2 … workers, and the queue's added latency.

    \b
    echoic bench jobs                                    # 1 and 2 workers, then latency
    echoic bench jobs --workers 1,2,4 --no-latency
    echoic bench jobs --no-throughput --runs 20 --clip short.wav
    """
    from echoic.bench import default_report_path
    from echoic.bench.jobs import JobsBenchOptions, default_clip, manifest_files, run_jobs_bench
    from echoic.bench.jobs_report import print_jobs_table, write_jobs_report
    from echoic.bench.speed import default_throughput_file
    from echoic.bench.stream_sweep import parse_levels
    from echoic.errors import InvalidRequestError

    try:
        counts = parse_levels(workers, "worker counts")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--workers") from exc
    if not throughput and not latency:
        raise click.UsageError("--no-throughput and --no-latency leave nothing to measure")
    manifest = data / "manifest.jsonl"
    try:
        files = () if no_manifest or not throughput else manifest_files(manifest, limit=limit)
        if latency and clip is None:
            clip = default_clip(manifest)
    except (OSError, ValueError) as exc:
        raise InvalidRequestError(f"{manifest}: {exc}") from exc
    options = JobsBenchOptions(
        longform=default_throughput_file(data) if throughput else None,
        repeat=repeat,
        files=files,
        clip=clip if latency else None,
        model=model or settings_of(ctx).model,
        workers=counts,
        runs=runs,
        device=_device(ctx, None),
    )
    result = run_jobs_bench(options, progress=lambda line: click.echo(line, err=True))
    print_jobs_table(result)
    json_path, png_path = write_jobs_report(
        result, out or default_report_path("jobs", options.model)
    )
    click.echo(f"report: {json_path}  plot: {png_path}", err=True)
