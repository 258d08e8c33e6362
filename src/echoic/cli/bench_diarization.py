"""``echoic bench diarization``: DER and speaker counts on files with reference turns, what
diarization adds to a batch transcription; ``build``: multi-speaker conversations to score on."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from echoic.cli.app import fail, reports_errors, settings_of
from echoic.cli.bench import _device, bench
from echoic.cli.bench_sessions import _seconds_range

if TYPE_CHECKING:
    from echoic.bench.diarization import CountPolicy, FileResult, SetResult
    from echoic.bench.diarization_speed import LongformTiming
    from echoic.diarize.diarizer import Diarizer
    from echoic.diarize.types import SpeakerCount

_DEFAULT_DATA = Path("../shared/eval/dev")
_DEFAULT_SET = f"dev={_DEFAULT_DATA / 'diarization'}"
_DEFAULT_LONGFORM = _DEFAULT_DATA / "longform" / "ljspeech_LJ001_chapter.wav"
_DEFAULT_ROOT = Path("bench-results/conversations")


def _count_range(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:
    """``2-4`` (or one number) as ``(low, high)``."""
    low, _, high = value.partition("-")
    try:
        return int(low), int(high or low)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not LOW-HIGH, like 2-4") from None


@bench.group("diarization", invoke_without_command=True)
@click.option(
    "--set",
    "sets",
    multiple=True,
    default=(_DEFAULT_SET,),
    show_default=True,
    metavar="NAME=DIR",
    help="A named set: a directory of *.wav with a reference .rttm beside each (repeatable).",
)
@click.option("--num-speakers", type=click.IntRange(1, 32), default=None)
@click.option("--min-speakers", type=click.IntRange(1, 32), default=None)
@click.option("--max-speakers", type=click.IntRange(1, 32), default=None)
@click.option(
    "--oracle-count",
    is_flag=True,
    help="Tell the diarizer each file's true number of speakers (clustering alone).",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 2),
    default=None,
    help="Clustering: cosine distance that separates voices (default: the diarizer's).",
)
@click.option(
    "--collar",
    type=click.FloatRange(min=0),
    default=0.5,
    show_default=True,
    help="Seconds not scored, centred on each reference boundary (NIST: 0.5, ±0.25 s).",
)
@click.option(
    "--longform",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="File for the transcription with/without diarization timing "
    "(default: the dev long-form reading).",
)
@click.option("--no-longform", is_flag=True, help="Skip that timing.")
@click.option("-m", "--model", default="tiny.en", show_default=True, help="--longform's model.")
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True)
@click.option(
    "--word-timestamps",
    is_flag=True,
    help="--longform: both transcriptions ask for word timestamps.",
)
@click.option(
    "--threads", "cpu_threads", type=click.IntRange(min=0), default=None, help="CPU threads."
)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSON report path (the PNG goes beside it).",
)
@click.pass_context
@reports_errors
def diarization(
    ctx: click.Context,
    sets: tuple[str, ...],
    num_speakers: int | None,
    min_speakers: int | None,
    max_speakers: int | None,
    oracle_count: bool,
    threshold: float | None,
    collar: float,
    longform: Path | None,
    no_longform: bool,
    model: str,
    repeats: int,
    word_timestamps: bool,
    cpu_threads: int | None,
    out: Path | None,
) -> None:
    """DER (missed, false alarm, confusion; pyannote.metrics, NIST collar) and speaker counts
    per file and set, diarizer seconds per audio minute, and what diarization adds to a batch
    transcription of a long file (side by side, medians).

    \b
    echoic bench diarization                                # the dev clip + the long-form timing
    echoic bench diarization build --part report            # conversations to score on
    echoic bench diarization --no-longform \\
        --set report=bench-results/conversations/report-s0 --set dev=../shared/eval/dev/diarization
    """
    if ctx.invoked_subcommand is not None:
        return
    from echoic.bench.diarization import CountPolicy, DiarizationResult, host_info, now_iso
    from echoic.bench.report import default_report_path, write_with_plot
    from echoic.diarize.types import SpeakerCount

    named: list[tuple[str, Path]] = []
    for entry in sets:
        name, sep, directory = entry.partition("=")
        if not sep or not name or not directory:
            raise click.UsageError(f"--set {entry!r}: expected NAME=DIR")
        named.append((name, Path(directory)))
    if oracle_count and any(n is not None for n in (num_speakers, min_speakers, max_speakers)):
        raise click.UsageError("--oracle-count gives each file its count: drop the others")
    policy = CountPolicy(
        count=SpeakerCount(
            num_speakers=num_speakers, min_speakers=min_speakers, max_speakers=max_speakers
        ),
        oracle=oracle_count,
    )
    diarizer = _load_diarizer(ctx, threshold)
    results = _run_sets(diarizer, named, policy, collar)
    timing = None
    if not no_longform:
        timing = _time_longform(
            ctx,
            diarizer,
            longform or _DEFAULT_LONGFORM,
            model=model,
            count=policy.count,
            repeats=repeats,
            word_timestamps=word_timestamps,
            cpu_threads=cpu_threads,
        )
    result = DiarizationResult(
        diarizer=f"voice-encoder, threshold {diarizer.config.threshold:g}",
        policy=policy,
        collar_s=collar,
        created_at=now_iso(),
        machine=host_info(cpu_threads=settings_of(ctx).cpu_threads),
        sets=results,
        longform=timing,
    )
    from echoic.bench.diarization_report import plot_diarization, print_diarization

    print_diarization(result)
    path = out or default_report_path("diarization", policy.label)
    json_path, png = write_with_plot(result, path, None, lambda p: plot_diarization(result, p))
    click.echo(f"report: {json_path}  plot: {png}", err=True)


def _load_diarizer(ctx: click.Context, threshold: float | None) -> Diarizer:
    from echoic.diarize.diarizer import DiarizerConfig, load_diarizer

    config = DiarizerConfig() if threshold is None else DiarizerConfig(threshold=threshold)
    return load_diarizer(settings_of(ctx).models_dir, config=config)


def _run_sets(
    diarizer: Diarizer, named: list[tuple[str, Path]], policy: CountPolicy, collar: float
) -> tuple[SetResult, ...]:
    from echoic.bench.diarization import run_sets

    def progress(name: str, f: FileResult) -> None:
        click.echo(
            f"  {name}/{f.name}: DER {f.score.der * 100:.1f} %, "
            f"{f.hypothesis_speakers}/{f.reference_speakers} speakers, {f.diarize_s:.1f} s",
            err=True,
        )

    try:
        return run_sets(diarizer, named, policy, collar_s=collar, on_file=progress)
    except ValueError as exc:
        fail(str(exc))


def _time_longform(
    ctx: click.Context,
    diarizer: Diarizer,
    path: Path,
    *,
    model: str,
    count: SpeakerCount,
    repeats: int,
    word_timestamps: bool,
    cpu_threads: int | None,
) -> LongformTiming:
    from echoic.bench.diarization_speed import time_longform
    from echoic.bench.engine import load_engine
    from echoic.types import TranscribeOptions

    loaded = load_engine(model, settings_of(ctx).models_dir, _device(ctx, cpu_threads))
    language = "en" if model.endswith(".en") else None
    return time_longform(
        loaded.engine,
        diarizer,
        path,
        model=loaded.model,
        options=TranscribeOptions(language=language, word_timestamps=word_timestamps),
        count=count,
        repeats=repeats,
        on_run=lambda name, seconds: click.echo(f"  {path.name} {name}: {seconds:.2f} s", err=True),
    )


@diarization.command("build")
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=_DEFAULT_DATA / "manifest.jsonl",
    show_default=True,
)
@click.option(
    "--corpus",
    "corpora",
    multiple=True,
    default=("librispeech", "ljspeech"),
    show_default=True,
    help="Manifest corpus (subset) whose speakers take turns, or all; repeatable.",
)
@click.option(
    "--part",
    type=click.Choice(["tune", "report", "all"]),
    default="report",
    show_default=True,
    help="Which half of the held-out split (echoic bench sessions split).",
)
@click.option("--conversations", type=click.IntRange(min=1), default=8, show_default=True)
@click.option(
    "--speakers", callback=_count_range, default="2-4", show_default=True, metavar="LOW-HIGH"
)
@click.option(
    "--turns", callback=_count_range, default="6-10", show_default=True, metavar="LOW-HIGH"
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--gap",
    callback=_seconds_range,
    default="0.2-1.0",
    show_default=True,
    metavar="LOW-HIGH",
    help="From one speaker's last speech to the next one's first (seconds).",
)
@click.option(
    "--background",
    default="silence",
    show_default=True,
    help="silence, or a pink noise bed under the whole conversation: noise-50dBFS.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"Directory (default: {_DEFAULT_ROOT}/<part>-s<seed>[-noise]).",
)
@reports_errors
def diarization_build(
    manifest: Path,
    corpora: tuple[str, ...],
    part: str,
    conversations: int,
    speakers: tuple[int, int],
    turns: tuple[int, int],
    seed: int,
    gap: tuple[float, float],
    background: str,
    out: Path | None,
) -> None:
    """Conversations of the manifest's speakers taking turns (WAV + reference RTTM + JSON
    sidecar), the same bytes for the same arguments; then: echoic bench diarization --set
    NAME=OUT."""
    from echoic.bench.conversations import ConversationOptions, build_conversations
    from echoic.bench.session_layout import Background
    from echoic.bench.session_split import Part

    try:
        options = ConversationOptions(
            manifest=manifest,
            corpora=tuple(dict.fromkeys(corpora)),
            part=None if part == "all" else Part(part),
            conversations=conversations,
            speakers=speakers,
            turns=turns,
            seed=seed,
            gap_s=gap,
            background=Background.parse(background),
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if out is None:
        noise = "" if options.background.noise_dbfs is None else f"-{options.background.label}"
        out = _DEFAULT_ROOT / f"{part}-s{seed}{noise}"
    try:
        result = build_conversations(
            options,
            out,
            on_conversation=lambda wav, meta: click.echo(
                f"{wav}: {meta['num_speakers']} speakers, {len(meta['segments'])} turns, "
                f"{meta['duration_s']:.1f} s",
                err=True,
            ),
        )
    except ValueError as exc:
        fail(str(exc))
    click.echo(
        f"{len(result.conversations)} conversations, {result.duration_s / 60:.1f} min: {result.out}"
    )
