"""``echoic worker``: job workers on any machine that reaches the database (and the media).

    ECHOIC_DATABASE_URL=postgresql://echoic@db/echoic echoic worker --concurrency 1

Workers use the same models, routing chain and cloud fallback as ``echoic serve``, configured
by the same settings. SIGTERM or Ctrl-C stops them cleanly: a running job stops at its next
chunk and its lease is released, so another worker picks it up at once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket

import click

from echoic.cli.app import cli, database_url_option, device_options, reports_errors, settings_of
from echoic.logs import configure_logging
from echoic.settings import Settings


@cli.command()
@database_url_option
@click.option(
    "--concurrency",
    type=click.IntRange(1, 16),
    default=1,
    show_default=True,
    help="Jobs at once (each already uses every core of its model).",
)
@click.option("--worker-id", default=None, help="How this worker appears in jobs and the audit.")
@click.option(
    "--log-format",
    type=click.Choice(["json", "text"]),
    default=None,
    help="json: one JSON object per line (default); text: for a terminal.",
)
@device_options
@click.pass_context
@reports_errors
def worker(
    ctx: click.Context,
    database_url: str | None,
    concurrency: int,
    worker_id: str | None,
    log_format: str | None,
    device: str | None,
    compute_type: str | None,
    cpu_threads: int | None,
) -> None:
    """Run job workers until SIGTERM or Ctrl-C."""
    overrides = {
        "database_url": database_url,
        "log_format": log_format,
        "device": device,
        "compute_type": compute_type,
        "cpu_threads": cpu_threads,
    }
    settings = settings_of(ctx).model_copy(
        update={k: v for k, v in overrides.items() if v is not None}
    )
    configure_logging(settings.log_level, settings.log_format)
    name = worker_id or f"{socket.gethostname()}:{os.getpid()}"
    asyncio.run(_run(settings, name, concurrency))


async def _run(settings: Settings, name: str, concurrency: int) -> None:
    from echoic.diarize.runner import diarizer_slot
    from echoic.jobs.housekeeping import housekeeping
    from echoic.jobs.worker import Worker, worker_config
    from echoic.routing import probe_machine
    from echoic.server.models import ServedModels, cloud_engine
    from echoic.storage.store import open_store

    store = await asyncio.to_thread(open_store, settings)
    cloud = cloud_engine(settings)
    models = ServedModels(settings, None, cloud=cloud, cuda_devices=probe_machine()["cuda_devices"])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    diarizer = diarizer_slot(settings) if settings.diarization_enabled else None
    workers = [
        Worker(
            store,
            models.engine,
            worker_config(settings, name if concurrency == 1 else f"{name}:{n}"),
            diarizer=diarizer,
        )
        for n in range(concurrency)
    ]
    tasks = [
        asyncio.create_task(w.run(stop), name=f"echoic:worker:{n}") for n, w in enumerate(workers)
    ]
    tasks.append(asyncio.create_task(housekeeping(store, stop), name="echoic:housekeeping"))
    try:
        await asyncio.gather(*tasks)
    finally:
        await models.aclose()
        if cloud is not None:
            await cloud.aclose()
        store.close()
