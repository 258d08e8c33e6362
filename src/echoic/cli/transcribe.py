"""``echoic transcribe``: files in, transcripts out (``--diarize``: with who spoke when)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from echoic.audio import decode_audio
from echoic.cli.app import (
    EXIT_BAD_INPUT,
    cli,
    device_options,
    engine_pool,
    err_console,
    fail,
    reports_errors,
    settings_of,
)
from echoic.diarize.runner import diarizer_slot, with_speakers_sync
from echoic.diarize.types import SpeakerCount
from echoic.diarize.words import engine_words_sync
from echoic.engines.base import ProgressCallback
from echoic.errors import EchoicError, InvalidParameterError
from echoic.formats import format_transcript
from echoic.types import SAMPLE_RATE, Audio, ResponseFormat, Task, TranscribeOptions, Transcript

_EXTENSIONS = {
    ResponseFormat.JSON: "json",
    ResponseFormat.VERBOSE_JSON: "json",
    ResponseFormat.TEXT: "txt",
    ResponseFormat.SRT: "srt",
    ResponseFormat.VTT: "vtt",
    ResponseFormat.DIARIZED_JSON: "json",
}


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("-m", "--model", default=None, help="Model name or CTranslate2 directory.")
@click.option("-l", "--language", default=None, help="Spoken language code (default: detect).")
@click.option("--task", type=click.Choice([t.value for t in Task]), default=Task.TRANSCRIBE.value)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice([f.value for f in ResponseFormat]),
    default=ResponseFormat.TEXT.value,
    show_default=True,
)
@click.option("--word-timestamps", is_flag=True, help="Add word timings (verbose_json).")
@click.option("--prompt", default=None, help="Initial prompt (vocabulary, style).")
@click.option(
    "--temperature",
    type=click.FloatRange(0, 1),
    default=None,
    help="Sampling temperature (default: 0 with fallback to higher ones).",
)
@click.option("--beam-size", type=click.IntRange(1, 10), default=None)
@click.option(
    "--vad/--no-vad",
    "vad_filter",
    default=None,
    help="Skip non-speech with Silero VAD (default on).",
)
@click.option(
    "--batched/--no-batched",
    default=None,
    help="Batched VAD-chunk decoding (default: on for audio longer than 60 s).",
)
@click.option(
    "--diarize",
    is_flag=True,
    help="Name the speakers (SPEAKER_00, …) in every format; -f diarized_json implies it.",
)
@click.option("--num-speakers", type=int, default=None, help="With --diarize: how many speak.")
@click.option("--min-speakers", type=int, default=None, help="With --diarize: at least this many.")
@click.option("--max-speakers", type=int, default=None, help="With --diarize: at most this many.")
@click.option(
    "-o",
    "--output",
    "output_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write FILE.<ext> here instead of printing.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar (default: on a terminal, for audio over 30 s).",
)
@device_options
@click.pass_context
@reports_errors
def transcribe(
    ctx: click.Context,
    files: tuple[Path, ...],
    model: str | None,
    language: str | None,
    task: str,
    fmt: str,
    word_timestamps: bool,
    prompt: str | None,
    temperature: float | None,
    beam_size: int | None,
    vad_filter: bool | None,
    batched: bool | None,
    diarize: bool,
    num_speakers: int | None,
    min_speakers: int | None,
    max_speakers: int | None,
    output_dir: Path | None,
    progress: bool | None,
    device: str | None,
    compute_type: str | None,
    cpu_threads: int | None,
) -> None:
    """Transcribe audio or video FILES (any format ffmpeg reads)."""
    settings = settings_of(ctx)
    response_format = ResponseFormat(fmt)
    count = _speaker_count(
        diarize or response_format is ResponseFormat.DIARIZED_JSON,
        num_speakers=num_speakers,
        min_speakers=min_speakers,
        max_speakers=max_speakers,
    )
    diarizer = None if count is None else diarizer_slot(settings).get()
    options = TranscribeOptions(
        language=language,
        task=Task(task),
        prompt=prompt,
        beam_size=beam_size or settings.beam_size,
        word_timestamps=word_timestamps,
        vad_filter=settings.vad_filter if vad_filter is None else vad_filter,
        batched=batched,
        batched_threshold_s=settings.batched_threshold_s,
        batch_size=settings.batch_size,
    )
    if temperature is not None:
        options = replace(options, temperature=temperature)
    engine = engine_pool(settings, device, compute_type, cpu_threads).get(model or settings.model)
    words_for = engine_words_sync(engine, options)  # for the segments two speakers share

    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
    failures = 0
    for path in files:
        try:
            audio = decode_audio(path, max_duration_s=settings.max_duration_s)
            duration = len(audio) / SAMPLE_RATE
            show = progress if progress is not None else (err_console.is_terminal and duration > 30)
            with _progress_bar(path.name, duration if show else None) as update:

                def run(
                    audio: Audio = audio, update: ProgressCallback | None = update
                ) -> Transcript:
                    return engine.transcribe_sync(audio, options, progress=update)

                if diarizer is None or count is None:
                    result = run()
                else:
                    result = with_speakers_sync(run, audio, diarizer, count, words_for)
        except EchoicError as exc:
            if len(files) == 1:
                raise
            failures += 1
            click.echo(f"error: {path}: {exc.message}", err=True)
            continue
        body, _ = format_transcript(result, response_format, include_words=word_timestamps)
        if output_dir is None:
            click.echo(body, nl=not body.endswith("\n"))
        else:
            out = output_dir / f"{path.stem}.{_EXTENSIONS[response_format]}"
            out.write_text(body if body.endswith("\n") else body + "\n", encoding="utf-8")
            click.echo(f"{path} -> {out}", err=True)
    if failures:
        sys.exit(EXIT_BAD_INPUT)


def _speaker_count(
    diarize: bool,
    *,
    num_speakers: int | None,
    min_speakers: int | None,
    max_speakers: int | None,
) -> SpeakerCount | None:
    given = {
        "num_speakers": num_speakers,
        "min_speakers": min_speakers,
        "max_speakers": max_speakers,
    }
    if not diarize:
        for param, value in given.items():
            if value is not None:
                fail(f"--{param.replace('_', '-')} needs --diarize.", EXIT_BAD_INPUT)
        return None
    try:
        return SpeakerCount(**given)
    except InvalidParameterError as exc:
        fail(f"--{(exc.param or '').replace('_', '-')}: {exc.message}", EXIT_BAD_INPUT)


@contextlib.contextmanager
def _progress_bar(label: str, total_s: float | None) -> Iterator[ProgressCallback | None]:
    """A progress bar's update callback while a file of ``total_s`` seconds is transcribed;
    ``None`` (no bar) without a length."""
    if total_s is None:
        yield None
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        # A known total from the start: the "done/total s" column cannot format None.
        task_id = bar.add_task(label, total=total_s)

        def update(done: float, total: float) -> None:
            bar.update(task_id, completed=done, total=total)

        yield update
