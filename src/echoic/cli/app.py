"""The root ``echoic`` group and what every command shares: settings, engines, error exits."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import NoReturn, ParamSpec, TypeVar

import click
from rich.console import Console

from echoic import __version__
from echoic.engines.faster_whisper import DeviceConfig
from echoic.engines.registry import EnginePool
from echoic.errors import EchoicError
from echoic.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1

err_console = Console(stderr=True)


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def reports_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn echoic's errors into one line on stderr and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except EchoicError as exc:
            fail(exc.message, EXIT_BAD_INPUT if exc.http_status < 500 else EXIT_FAILURE)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="echoic")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """echoic: local-first speech-to-text."""
    ctx.obj = Settings()


def settings_of(ctx: click.Context) -> Settings:
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    return settings


database_url_option = click.option(
    "--database-url",
    default=None,
    metavar="URL",
    help="Jobs, transcripts and keys: postgresql://… to share them between servers and workers, "
    "or sqlite:///PATH (default: ECHOIC_DATABASE_URL, else a SQLite file under ECHOIC_DATA_DIR).",
)


def device_options(fn: Callable[P, R]) -> Callable[P, R]:
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


def engine_pool(
    settings: Settings, device: str | None, compute_type: str | None, cpu_threads: int | None
) -> EnginePool:
    config = DeviceConfig(
        device=device or settings.device,
        compute_type=compute_type or settings.compute_type,
        cpu_threads=settings.cpu_threads if cpu_threads is None else cpu_threads,
        workers=settings.workers,
    )
    return EnginePool(settings.models_dir, config)
