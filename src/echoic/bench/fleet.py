"""The processes of ``echoic bench jobs``: one ``echoic serve`` and N ``echoic worker``s on its
SQLite file, on a free loopback port in a fresh data directory; started, waited for, watched
and stopped however the run ends (SIGTERM included), with the tail of a failed one's log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from echoic.bench.rest import ServerUnavailableError, exit_on_sigterm, wait_ready
from echoic.engines.faster_whisper import DeviceConfig


def worker_id(n: int) -> str:
    """The ``--worker-id`` of the ``n``-th (from 1) ``echoic worker`` of :func:`fleet`."""
    return f"bench-worker-{n}"


@contextlib.contextmanager
def fleet(
    model: str,
    device: DeviceConfig,
    *,
    in_process: int,
    worker_processes: int,
    ready_timeout_s: float,
) -> Iterator[tuple[httpx.Client, Callable[[], None]]]:
    """A server of ``model`` on a free loopback port with ``in_process`` workers, plus
    ``worker_processes`` ``echoic worker``s on its SQLite file, all in a fresh data directory and
    with the ``device`` settings; yields a client of the server (once it answers ``/ready``,
    within ``ready_timeout_s``) and a check that raises :class:`ServerUnavailableError` (with
    the log's tail) when one of them exited. All are stopped however the run ends, SIGTERM
    included."""
    with tempfile.TemporaryDirectory(prefix="echoic-bench-jobs-") as scratch:
        data_dir = Path(scratch)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k != "ECHOIC_DATABASE_URL"}
        env |= {
            "ECHOIC_DATA_DIR": str(data_dir),
            "ECHOIC_RATE_LIMIT": "",
            "ECHOIC_LOG_LEVEL": "warning",
            "ECHOIC_AUTH": "disabled",
            "ECHOIC_HOST": "127.0.0.1",
            "ECHOIC_DEVICE": device.device,
            "ECHOIC_COMPUTE_TYPE": device.compute_type,
            "ECHOIC_CPU_THREADS": str(device.cpu_threads),
            "ECHOIC_WORKERS": str(device.workers),
        }
        echoic = [sys.executable, "-m", "echoic"]
        serve = [*echoic, "serve", "--host", "127.0.0.1", "--port", str(port)]
        commands = {"echoic serve": [*serve, "--model", model, "--workers", str(in_process)]}
        processes: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        previous = signal.signal(signal.SIGTERM, exit_on_sigterm)

        def start(name: str, command: list[str]) -> None:
            log = data_dir / f"{name.replace(' ', '-')}.log"
            with log.open("wb") as out:
                processes[name] = (
                    subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT),
                    log,
                )

        def check() -> None:
            for name, (process, log) in processes.items():
                if process.poll() is not None:
                    raise ServerUnavailableError(
                        f"{name} exited with status {process.returncode}:\n{_tail(log)}"
                    )

        url = f"http://127.0.0.1:{port}"
        try:
            start("echoic serve", commands["echoic serve"])
            server, log = processes["echoic serve"]
            try:
                wait_ready(url, ready_timeout_s, server)
            except ServerUnavailableError as exc:
                raise ServerUnavailableError(f"{exc.message}\n{_tail(log)}") from None
            for n in range(1, worker_processes + 1):
                start(worker_id(n), [*echoic, "worker", "--worker-id", worker_id(n)])
            with httpx.Client(base_url=url, timeout=httpx.Timeout(300.0)) as http:
                yield http, check
        finally:
            signal.signal(signal.SIGTERM, previous)
            for process, _ in reversed(processes.values()):
                process.send_signal(signal.SIGINT)
            for process, _ in processes.values():
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _tail(log: Path, chars: int = 2000) -> str:
    try:
        return log.read_text(errors="replace")[-chars:]
    except OSError:
        return ""
