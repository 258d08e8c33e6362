"""``echoic serve``: the HTTP and WebSocket server, uvicorn running ``create_app``."""

from __future__ import annotations

import math

import click

from echoic.cli.app import cli, database_url_option, device_options, reports_errors, settings_of
from echoic.engines.models import resolve_model
from echoic.logs import configure_logging
from echoic.types import SttMode


@cli.command()
@click.option(
    "--host", default=None, help="Address to bind (default 127.0.0.1: this machine only)."
)
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (default 8000).")
@click.option("-m", "--model", default=None, help="Default model (what 'whisper-1' means).")
@click.option(
    "--confirm-model",
    default=None,
    help="Live streams: a heavier model that confirms what --model drafts; 'auto': on CUDA "
    "the largest installed of large-v3-turbo, large-v3, medium, small (default: none).",
)
@click.option(
    "--cloud-url",
    default=None,
    metavar="URL",
    help="An OpenAI-compatible API root to fall back to (e.g. https://api.openai.com/v1); its "
    "key goes in ECHOIC_CLOUD_API_KEY.",
)
@click.option(
    "--stt-mode",
    type=click.Choice(["auto", "force_local", "force_cloud"]),
    default=None,
    help="auto (default): local first, cloud on failure; or one side only.",
)
@database_url_option
@click.option(
    "--workers",
    "workers_in_process",
    type=click.IntRange(0, 16),
    default=None,
    help="Job workers in this process (default 1; 0: only `echoic worker`s run jobs).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default=None,
    help="Log level (default info).",
)
@click.option(
    "--log-format",
    type=click.Choice(["json", "text"]),
    default=None,
    help="json: one JSON object per line (default); text: for a terminal.",
)
@device_options
@click.pass_context
@reports_errors
def serve(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    model: str | None,
    confirm_model: str | None,
    cloud_url: str | None,
    stt_mode: str | None,
    database_url: str | None,
    workers_in_process: int | None,
    log_level: str | None,
    log_format: str | None,
    device: str | None,
    compute_type: str | None,
    cpu_threads: int | None,
) -> None:
    """Serve the OpenAI-compatible REST API and the live WebSocket.

    API keys are required unless the server is bound to a loopback address; create them with
    `echoic keys create`.
    """
    import uvicorn

    from echoic.server import create_app
    from echoic.server.models import with_confirm_model
    from echoic.server.realtime_events import MAX_EVENT_CHARS

    overrides = {
        "host": host,
        "port": port,
        "model": model,
        "confirm_model": confirm_model,
        "cloud_url": cloud_url,
        "stt_mode": None if stt_mode is None else SttMode(stt_mode),
        "database_url": database_url,
        "workers_in_process": workers_in_process,
        "log_level": log_level,
        "log_format": log_format,
        "device": device,
        "compute_type": compute_type,
        "cpu_threads": cpu_threads,
    }
    settings = settings_of(ctx).model_copy(
        update={k: v for k, v in overrides.items() if v is not None}
    )
    configure_logging(settings.log_level, settings.log_format)
    settings = with_confirm_model(settings)
    # Fail now, with the command that fixes it, rather than in the first request.
    if settings.local_enabled and settings.stt_mode is not SttMode.FORCE_CLOUD:
        for name in filter(None, (settings.model, settings.confirm_model)):
            resolve_model(name, settings.models_dir)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # configure_logging already routes uvicorn's records
        access_log=False,  # the request-id middleware writes one structured line per request
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_s),
        # /v1/realtime refuses an oversized append with an error event, not a dropped socket.
        ws_max_size=2 * MAX_EVENT_CHARS,
    )
