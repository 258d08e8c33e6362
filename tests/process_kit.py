"""Real server processes on loopback ports, for the end-to-end tests.

    with server_process(["serve", "--model", "tiny.en"], tmp_path) as server:
        httpx.get(f"{server.url}/ready")
        server.log_lines()        # its JSON log, one dict per line

A server is started as ``python -m echoic ARGS`` (or any module with ``module=``), waited for
until ``/ready`` answers 200, and stopped with SIGINT (what Ctrl-C and supervisors send); it
must then exit 0.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from echoic.settings import Settings

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ServerProcess:
    url: str
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def api(self) -> str:
        return f"{self.url}/v1"

    @property
    def ws(self) -> str:
        return self.url.replace("http://", "ws://", 1)

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log.read_text().splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                lines.append({"message": line})
        return lines

    def requests_to(self, path: str) -> list[dict[str, Any]]:
        """The server's own request log lines for ``path``."""
        return [line for line in self.log_lines() if line.get("path") == path]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(
    args: Sequence[str],
    data_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    module: str = "echoic",
    ready_timeout_s: float = 120,
) -> ServerProcess:
    """``python -m MODULE ARGS --port P`` with its data in ``data_dir``, once ``/ready``."""
    port = free_port()
    log = data_dir / f"server-{port}.log"
    environment = {
        **os.environ,
        "ECHOIC_MODELS_DIR": str(Settings().models_dir),  # as the environment sets it
        "ECHOIC_DATA_DIR": str(data_dir),
        "ECHOIC_LOG_FORMAT": "json",
        **(env or {}),
    }
    command = [sys.executable, "-m", module, *args, "--port", str(port)]
    with log.open("w") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=environment, cwd=REPO
        )
    server = ServerProcess(url=f"http://127.0.0.1:{port}", log=log, process=process)
    try:
        wait_ready(server, ready_timeout_s)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return server


@contextmanager
def server_process(
    args: Sequence[str],
    data_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    module: str = "echoic",
    ready_timeout_s: float = 120,
) -> Iterator[ServerProcess]:
    """:func:`start_server`, stopped on exit, where it must exit 0 after ``server stopped``."""
    server = start_server(args, data_dir, env=env, module=module, ready_timeout_s=ready_timeout_s)
    try:
        yield server
    finally:
        code = server.stop()
    assert code == 0, server.log.read_text()[-3000:]
    assert any(line.get("message") == "server stopped" for line in server.log_lines())


def wait_ready(server: ServerProcess, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(
                f"the server exited ({server.process.returncode}):\n{server.log.read_text()}"
            )
        try:
            if httpx.get(f"{server.url}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"not ready after {timeout_s} s:\n{server.log.read_text()}")
