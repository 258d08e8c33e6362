"""Throwaway Redis servers on loopback ports, for the tests of what several echoic processes share.

    with redis_server(tmp_path) as server:
        RateLimiter("3/minute", server.uri)
        server.stop()             # Redis goes away mid-test

Each is a real ``redis-server`` with nothing persisted, started on a free port and waited for
until it answers PING. Without ``redis-server`` installed the test is skipped locally, and fails
in CI (``CI=true``), which must run it (``apt-get install redis-server``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.process_kit import free_port

START_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class RedisServer:
    uri: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """Stop it (a clean SIGTERM); idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def redis_server_binary() -> str:
    """The path of ``redis-server``; skips the test (fails it in CI) when there is none."""
    binary = shutil.which("redis-server")
    if binary is None:
        reason = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return binary


@contextmanager
def redis_server(workdir: Path, port: int | None = None) -> Iterator[RedisServer]:
    """A fresh ``redis-server`` answering on ``server.uri``, stopped on exit; ``port`` to start
    one where a stopped one was (Redis coming back)."""
    binary = redis_server_binary()
    port = port or free_port()
    log = workdir / f"redis-{port}.log"
    # --dir: whatever it might write lands in workdir, not in the checkout.
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    args += ["no", "--dir", str(workdir), "--logfile", str(log)]
    server = RedisServer(uri=f"redis://127.0.0.1:{port}", process=subprocess.Popen(args), log=log)
    try:
        _wait_until_it_answers(server)
        yield server
    finally:
        server.stop()


@contextmanager
def redis_client(uri: str) -> Iterator[redis.Redis]:
    """A plain client, to look at what the code under test left in Redis; closed on exit."""
    client = redis.Redis.from_url(uri, socket_connect_timeout=1, socket_timeout=1)
    try:
        yield client
    finally:
        client.close()


def _wait_until_it_answers(server: RedisServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    with redis_client(server.uri) as client:
        while True:
            if server.process.poll() is not None:
                pytest.fail(f"redis-server exited ({server.process.returncode}): {_tail(server)}")
            with suppress(redis.ConnectionError):
                if client.ping():
                    return
            if time.monotonic() > deadline:
                pytest.fail(
                    f"redis-server did not answer in {START_TIMEOUT_S:g} s: {_tail(server)}"
                )
            time.sleep(0.02)


def _tail(server: RedisServer) -> str:
    return server.log.read_text()[-2000:] if server.log.exists() else "(no log)"
