"""The ``echoic`` command line.

Bad input ends in one line on stderr (``error: …``) and a non-zero exit, never a traceback.
"""

from echoic.cli import (
    bench,
    bench_diarization,
    bench_jobs,
    bench_rest,
    bench_sessions,
    bench_stream,
    bench_stream_server,
    bench_turns,
    db,
    jobs,
    keys,
    listen,
    models,
    serve,
    transcribe,
    worker,
)
from echoic.cli.app import cli

__all__ = [
    "bench",
    "bench_diarization",
    "bench_jobs",
    "bench_rest",
    "bench_sessions",
    "bench_stream",
    "bench_stream_server",
    "bench_turns",
    "cli",
    "db",
    "jobs",
    "keys",
    "listen",
    "main",
    "models",
    "serve",
    "transcribe",
    "worker",
]


def main() -> None:
    cli(prog_name="echoic")
