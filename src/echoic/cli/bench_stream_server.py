"""``echoic bench stream-server``: streaming latency through a real ``echoic serve``, per
WebSocket endpoint (:mod:`echoic.bench.stream_server`)."""

from __future__ import annotations

from pathlib import Path

import click

from echoic.cli.app import reports_errors, settings_of
from echoic.cli.bench import (
    _device,
    _model,
    _out,
    _sessions,
    _threads,
    bench,
)


@bench.command("stream-server")
@_sessions
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
