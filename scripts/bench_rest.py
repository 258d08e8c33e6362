"""REST throughput for short clips: N concurrent clients posting one file to a real server.

    .venv/bin/python scripts/bench_rest.py shared/eval/dev/audio/jfk-inaugural-1961.wav \
        --model tiny.en --clients 1,2,4,8 --seconds 30

Starts ``echoic serve`` on a free loopback port (or uses ``--url``), waits for ``/ready``, then
for each client count keeps that many requests in flight for ``--seconds`` and prints
requests/s, audio seconds transcribed per second, and latency percentiles. The clients run on
the same machine as the server and take some of its CPU: the numbers are a lower bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from echoic.audio import probe_audio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--clients", default="1,2,4,8", help="client counts, comma-separated")
    parser.add_argument("--seconds", type=float, default=30.0, help="per client count")
    parser.add_argument("--format", default="json", help="response_format")
    parser.add_argument("--url", default=None, help="an already running server")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args()
    audio_s = probe_audio(args.file).duration_s or 0.0
    body = args.file.read_bytes()
    counts = [int(c) for c in args.clients.split(",")]
    server, port = (None, 0) if args.url else _start(args.model)
    url = args.url or f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url)
        asyncio.run(_one(url, body, args, clients=1, seconds=2.0))  # warm the connection path
        results = []
        print(
            f"{args.file.name}: {audio_s:.1f} s of audio, model {args.model}, {os.cpu_count()} CPUs"
        )
        print(
            f"{'clients':>7} {'requests':>8} {'req/s':>6} {'audio s/s':>9} "
            f"{'p50 s':>6} {'p95 s':>6} {'errors':>6}"
        )
        for clients in counts:
            row = asyncio.run(_one(url, body, args, clients=clients, seconds=args.seconds))
            row["audio_s_per_s"] = round(row["req_per_s"] * audio_s, 2)
            results.append(row)
            print(
                f"{clients:>7} {row['requests']:>8} {row['req_per_s']:>6.2f} "
                f"{row['audio_s_per_s']:>9.1f} {row['p50_s']:>6.2f} {row['p95_s']:>6.2f} "
                f"{row['errors']:>6}"
            )
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "file": str(args.file),
                        "audio_s": audio_s,
                        "model": args.model,
                        "results": results,
                    },
                    indent=2,
                )
            )
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=60)


async def _one(
    url: str, body: bytes, args: argparse.Namespace, *, clients: int, seconds: float
) -> dict[str, float | int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await http.post(
                "/v1/audio/transcriptions",
                files={"file": (args.file.name, body)},
                data={"model": args.model, "response_format": args.format},
            )
            if response.status_code == 200:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

    limits = httpx.Limits(max_connections=clients)
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 2),
        "req_per_s": round(len(latencies) / elapsed, 3),
        "p50_s": round(statistics.median(latencies), 3) if latencies else 0.0,
        "p95_s": round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 3)
        if latencies
        else 0.0,
    }


def _start(model: str) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "ECHOIC_RATE_LIMIT": "", "ECHOIC_LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "echoic", "serve", "--port", str(port), "--model", model]
    return subprocess.Popen(command, env=env), port


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} not ready after 120 s")


if __name__ == "__main__":
    main()
