"""``echoic bench jobs``: the jobs API's throughput with 1, 2 … workers, and the latency the
queue adds (:mod:`echoic.bench.jobs`)."""

from __future__ import annotations

from pathlib import Path

import click

from echoic.cli.app import reports_errors, settings_of
from echoic.cli.bench import (
    _DEFAULT_DATA,
    _device,
    _model,
    _out,
    bench,
)


@bench.command("jobs")
@_model
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=_DEFAULT_DATA,
    show_default=True,
    help="The eval data: its long-form file, manifest.jsonl and the JFK clip.",
)
@click.option(
    "--workers",
    default="1,2",
    show_default=True,
    metavar="N,N,…",
    help="Worker process counts (each an `echoic worker` on one SQLite file).",
)
@click.option(
    "--repeat",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Copies of the long-form file submitted at once (0: none).",
)
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="First N manifest utterances."
)
@click.option("--no-manifest", is_flag=True, help="Submit no manifest utterances.")
@click.option(
    "--runs", type=click.IntRange(min=1), default=10, show_default=True, help="Latency rounds."
)
@click.option(
    "--clip",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Latency clip (default: the manifest's JFK clip).",
)
@click.option(
    "--throughput/--no-throughput",
    default=True,
    show_default=True,
    help="Measure audio hours per hour for each worker count.",
)
@click.option(
    "--latency/--no-latency",
    default=True,
    show_default=True,
    help="Measure the queue's added latency (job vs direct request).",
)
@_out
@click.pass_context
@reports_errors
def bench_jobs(
    ctx: click.Context,
    model: str | None,
    data: Path,
    workers: str,
    repeat: int,
    limit: int | None,
    no_manifest: bool,
    runs: int,
    clip: Path | None,
    throughput: bool,
    latency: bool,
    out: Path | None,
) -> None:
    """Jobs API: throughput (audio h/h) with 1, 2 … workers, and the queue's added latency.

    \b
    echoic bench jobs                                    # 1 and 2 workers, then latency
    echoic bench jobs --workers 1,2,4 --no-latency
    echoic bench jobs --no-throughput --runs 20 --clip short.wav
    """
    from echoic.bench import default_report_path
    from echoic.bench.jobs import JobsBenchOptions, default_clip, manifest_files, run_jobs_bench
    from echoic.bench.jobs_report import print_jobs_table, write_jobs_report
    from echoic.bench.speed import default_throughput_file
    from echoic.bench.stream_sweep import parse_levels
    from echoic.errors import InvalidRequestError

    try:
        counts = parse_levels(workers, "worker counts")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--workers") from exc
    if not throughput and not latency:
        raise click.UsageError("--no-throughput and --no-latency leave nothing to measure")
    manifest = data / "manifest.jsonl"
    try:
        files = () if no_manifest or not throughput else manifest_files(manifest, limit=limit)
        if latency and clip is None:
            clip = default_clip(manifest)
    except (OSError, ValueError) as exc:
        raise InvalidRequestError(f"{manifest}: {exc}") from exc
    options = JobsBenchOptions(
        longform=default_throughput_file(data) if throughput else None,
        repeat=repeat,
        files=files,
        clip=clip if latency else None,
        model=model or settings_of(ctx).model,
        workers=counts,
        runs=runs,
        device=_device(ctx, None),
    )
    result = run_jobs_bench(options, progress=lambda line: click.echo(line, err=True))
    print_jobs_table(result)
    json_path, png_path = write_jobs_report(
        result, out or default_report_path("jobs", options.model)
    )
    click.echo(f"report: {json_path}  plot: {png_path}", err=True)
