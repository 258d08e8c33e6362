"""``echoic transcribe``: files in, transcripts out."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from echoic.audio import decode_audio
from echoic.cli.app import (
    EXIT_BAD_INPUT,
    cli,
    device_options,
    engine_pool,
    err_console,
    reports_errors,
    settings_of,
)
from echoic.errors import EchoicError
from echoic.formats import format_transcript
from echoic.types import SAMPLE_RATE, ResponseFormat, Task, TranscribeOptions

_EXTENSIONS = {
    ResponseFormat.JSON: "json",
    ResponseFormat.VERBOSE_JSON: "json",
    ResponseFormat.TEXT: "txt",
    ResponseFormat.SRT: "srt",
    ResponseFormat.VTT: "vtt",
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
    output_dir: Path | None,
    progress: bool | None,
    device: str | None,
    compute_type: str | None,
    cpu_threads: int | None,
) -> None:
    """Transcribe audio or video FILES (any format ffmpeg reads)."""
    settings = settings_of(ctx)
    response_format = ResponseFormat(fmt)
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
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
    failures = 0
    for path in files:
        try:
            audio = decode_audio(path, max_duration_s=settings.max_duration_s)
            duration = len(audio) / SAMPLE_RATE
            show = progress if progress is not None else (err_console.is_terminal and duration > 30)
            if show:
                with _progress_bar(path.name) as (bar, task_id):

                    def update(done: float, total: float) -> None:
                        bar.update(task_id, completed=done, total=total)

                    result = engine.transcribe_sync(audio, options, progress=update)
            else:
                result = engine.transcribe_sync(audio, options)
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


class _progress_bar:
    def __init__(self, label: str) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
        )
        self._label = label

    def __enter__(self) -> tuple[Progress, Any]:
        self._progress.__enter__()
        return self._progress, self._progress.add_task(self._label, total=None)

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(None, None, None)
