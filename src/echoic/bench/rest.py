"""``echoic bench rest``: REST throughput, N clients posting one file to a real server at once.

For each client count, that many clients keep one ``/v1/audio/transcriptions`` request each in
flight for ``seconds``; the level reports requests per second, audio seconds transcribed per
second and latency percentiles. Without ``url`` the benchmark starts ``echoic serve`` on a free
loopback port (rate limits off) and stops it afterwards. The clients run on the same machine as
the server and take some of its CPU, so the figures are a lower bound.

    result = run_rest_bench(RestBenchOptions(file=Path("jfk.wav"), clients=(1, 2, 4)))
    print_rest_table(result)
    write_rest_report(result, Path("rest.json"))
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from echoic.audio import probe_audio
from echoic.bench.machine import cpu_model
from echoic.bench.report import write_with_plot
from echoic.errors import EchoicError, InvalidRequestError

TRANSCRIPTIONS = "/v1/audio/transcriptions"


class ServerUnavailableError(EchoicError):
    """The server never became ready."""

    code = "server_unavailable"
    http_status = 503


@dataclass(frozen=True, kw_only=True)
class RestBenchOptions:
    file: Path
    model: str = "tiny.en"
    clients: tuple[int, ...] = (1, 2, 4, 8)
    seconds: float = 20.0
    response_format: str = "json"
    #: An already running server; ``None``: start ``echoic serve`` for the run.
    url: str | None = None
    api_key: str | None = None
    ready_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if not self.clients or min(self.clients) < 1:
            raise ValueError(f"client counts must be at least 1, got {self.clients}")
        if self.seconds <= 0:
            raise ValueError(f"seconds must be positive, got {self.seconds}")


@dataclass(frozen=True, kw_only=True)
class RestLevel:
    clients: int
    requests: int
    errors: int
    seconds: float
    latencies_s: tuple[float, ...] = field(repr=False)
    #: What the first failed request got (status and body, or the transport error).
    first_error: str | None = None

    @property
    def req_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float | None:
        if not self.latencies_s:
            return None
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def to_dict(self, audio_s: float) -> dict[str, Any]:
        p50, p95 = self.percentile(0.5), self.percentile(0.95)
        return {
            "clients": self.clients,
            "requests": self.requests,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "req_per_s": round(self.req_per_s, 3),
            "audio_s_per_s": round(self.req_per_s * audio_s, 2),
            "latency_p50_s": None if p50 is None else round(p50, 3),
            "latency_p95_s": None if p95 is None else round(p95, 3),
            "latency_max_s": round(max(self.latencies_s), 3) if self.latencies_s else None,
            "first_error": self.first_error,
        }


@dataclass(frozen=True, kw_only=True)
class RestBenchResult:
    kind = "rest"
    options: RestBenchOptions
    url: str
    audio_s: float
    levels: tuple[RestLevel, ...]
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def model(self) -> str:
        return self.options.model

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "created_at": self.created_at,
            "file": str(self.options.file),
            "audio_s": round(self.audio_s, 3),
            "model": self.options.model,
            "response_format": self.options.response_format,
            "seconds_per_level": self.options.seconds,
            "server": self.url if self.options.url else "echoic serve (started for the run)",
            "machine": {
                "cpu_count": os.cpu_count() or 1,
                "cpu_model": cpu_model(),
                "platform": platform.platform(),
            },
            "levels": [level.to_dict(self.audio_s) for level in self.levels],
        }


def run_rest_bench(
    options: RestBenchOptions, *, on_level: Callable[[RestLevel], None] | None = None
) -> RestBenchResult:
    """Run every client count against the server; raises :class:`InvalidRequestError` for a
    missing file (an :class:`~echoic.errors.AudioError` for one that is not audio) and
    :class:`ServerUnavailableError` for a server that exits, never answers ``/ready``, or
    answers no request of a level."""
    if not options.file.is_file():
        raise InvalidRequestError(f"{options.file}: no such file")
    audio_s = probe_audio(options.file).duration_s or 0.0
    body = options.file.read_bytes()
    with _server(options) as (url, process):
        wait_ready(url, options.ready_timeout_s, process)
        warm_up = _level(url, body, options, clients=1, seconds=min(2.0, options.seconds))
        _check(asyncio.run(warm_up))
        levels = []
        for clients in options.clients:
            level = asyncio.run(
                _level(url, body, options, clients=clients, seconds=options.seconds)
            )
            _check(level)
            levels.append(level)
            if on_level is not None:
                on_level(level)
    return RestBenchResult(options=options, url=url, audio_s=audio_s, levels=tuple(levels))


def _check(level: RestLevel) -> None:
    """A level in which no request succeeded measures nothing: say why instead."""
    if level.requests == 0:
        raise ServerUnavailableError(
            f"no request succeeded with {level.clients} client(s); the first failure: "
            f"{level.first_error or 'none finished in time'}"
        )


async def _level(
    url: str, body: bytes, options: RestBenchOptions, *, clients: int, seconds: float
) -> RestLevel:
    latencies: list[float] = []
    failures: list[str] = []
    deadline = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {options.api_key}"} if options.api_key else {}

    async def client(http: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                response = await http.post(
                    TRANSCRIPTIONS,
                    files={"file": (options.file.name, body)},
                    data={"model": options.model, "response_format": options.response_format},
                )
            except httpx.TransportError as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(0.1)  # a server that went away: do not spin
                continue
            if response.status_code == 200:
                latencies.append(time.perf_counter() - started)
            else:
                failures.append(f"HTTP {response.status_code}: {response.text[:200]}")

    limits = httpx.Limits(max_connections=clients)
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits, headers=headers) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return RestLevel(
        clients=clients,
        requests=len(latencies),
        errors=len(failures),
        seconds=time.perf_counter() - started,
        latencies_s=tuple(latencies),
        first_error=failures[0] if failures else None,
    )


@contextlib.contextmanager
def _server(options: RestBenchOptions) -> Iterator[tuple[str, subprocess.Popen[bytes] | None]]:
    """The server's URL and, when started here, its process (stopped however the run ends,
    SIGTERM included)."""
    if options.url is not None:
        yield options.url.rstrip("/"), None
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Loopback, no keys, no rate limit: whatever the caller's environment says.
    env = {**os.environ, "ECHOIC_RATE_LIMIT": "", "ECHOIC_LOG_LEVEL": "warning"}
    env |= {"ECHOIC_AUTH": "disabled", "ECHOIC_HOST": "127.0.0.1"}
    command = [sys.executable, "-m", "echoic", "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen([*command, "--model", options.model], env=env)
    previous = signal.signal(signal.SIGTERM, exit_on_sigterm)
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def exit_on_sigterm(signum: int, frame: object) -> None:
    """A SIGTERM handler that exits through ``SystemExit``, so that the ``finally`` blocks that
    stop a benchmark's servers still run (the default handler ends the process at once)."""
    raise SystemExit(128 + signum)


def wait_ready(url: str, timeout_s: float, process: subprocess.Popen[bytes] | None) -> None:
    """Return once ``url`` answers ``/ready`` with 200. Raises :class:`ServerUnavailableError`
    when ``process`` (if given) exits first, when ``/ready`` names an error (e.g. the model is
    not installed), or after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process is not None and process.poll() is not None:
            raise ServerUnavailableError(
                f"echoic serve exited with status {process.returncode} before it was ready"
            )
        try:
            ready = httpx.get(f"{url}/ready", timeout=2)
        except httpx.TransportError:
            pass
        else:
            if ready.status_code == 200:
                return
            if error := _ready_error(ready):  # e.g. the model is not installed
                raise ServerUnavailableError(f"{url} is not ready: {error}")
        if time.monotonic() >= deadline:
            raise ServerUnavailableError(f"{url} did not answer /ready within {timeout_s:g} s")
        time.sleep(0.2)


def _ready_error(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return str(body["error"]) if isinstance(body, dict) and body.get("error") else None


def print_rest_table(result: RestBenchResult, console: Console | None = None) -> None:
    table = Table(
        title=f"REST throughput · {result.options.file.name} ({result.audio_s:.1f} s) · "
        f"{result.model} · {result.options.response_format}"
    )
    for column in ("clients", "requests", "req/s", "audio s/s", "P50 s", "P95 s", "errors"):
        table.add_column(column, justify="right")
    for level in result.levels:
        row = level.to_dict(result.audio_s)
        table.add_row(
            str(level.clients),
            str(level.requests),
            f"{row['req_per_s']:.2f}",
            f"{row['audio_s_per_s']:.1f}",
            _seconds(row["latency_p50_s"]),
            _seconds(row["latency_p95_s"]),
            str(level.errors),
        )
    (console or Console()).print(table)


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def write_rest_report(
    result: RestBenchResult, json_path: Path, png_path: Path | None = None
) -> tuple[Path, Path]:
    return write_with_plot(result, json_path, png_path, _plotter(result))


def _plotter(result: RestBenchResult) -> Callable[[Path], None]:
    def plot(path: Path) -> None:
        figure = Figure(figsize=(9, 4))
        FigureCanvasAgg(figure)
        throughput, latency = figure.subplots(1, 2)
        clients = [level.clients for level in result.levels]
        throughput.plot(clients, [level.req_per_s for level in result.levels], marker="o")
        throughput.set(xlabel="clients", ylabel="requests / s", title="throughput")
        for q, label in ((0.5, "P50"), (0.95, "P95")):
            values = [level.percentile(q) for level in result.levels]
            latency.plot(
                clients,
                [v if v is not None else float("nan") for v in values],
                marker="o",
                label=label,
            )
        latency.set(xlabel="clients", ylabel="seconds", title="latency")
        latency.legend()
        figure.suptitle(f"{result.options.file.name} · {result.model}")
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=100)

    return plot
