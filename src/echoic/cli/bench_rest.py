"""``echoic bench rest``: REST throughput, N clients each keeping one request in flight against
a server (:mod:`echoic.bench.rest`)."""

from __future__ import annotations

from pathlib import Path

import click

from echoic.cli.app import reports_errors, settings_of
from echoic.cli.bench import (
    _model,
    _out,
    bench,
)


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
