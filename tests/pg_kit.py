"""A throwaway PostgreSQL server for the tests, from the machine's PostgreSQL binaries.

    with postgres_server() as server:
        url = server.create_database("t1")     # postgresql://postgres@127.0.0.1:PORT/t1

``initdb`` refuses to run as root, so as root (CI) the server runs as the ``postgres`` system
user (``runuser``), in a directory it owns — which is why this is not pytest-postgresql, whose
executor runs ``pg_ctl`` as the current user. It listens on a free loopback port with trust
authentication, and fsync off: it lives as long as the test session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.process_kit import free_port

USER = "postgres"


def bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are (``pg_config --bindir``), if PostgreSQL is here."""
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    path = Path(subprocess.check_output([pg_config, "--bindir"], text=True).strip())
    return path if (path / "initdb").exists() and (path / "pg_ctl").exists() else None


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _as_postgres(command: Sequence[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", USER, "--", *command]
    return list(command)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    binaries = bindir()
    if binaries is None:
        raise RuntimeError("PostgreSQL's server binaries are not installed (pg_config --bindir)")
    base = Path(tempfile.mkdtemp(prefix="echoic-pg-"))
    base.chmod(0o755)
    data, sockets = base / "data", base / "sockets"
    data.mkdir()
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(data, USER, USER)
        shutil.chown(sockets, USER, USER)
    port = free_port()
    log = base / "server.log"
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    try:
        subprocess.run(
            _as_postgres(
                [
                    str(binaries / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    USER,
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
            env=env,
        )
        options = (
            f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        if os.geteuid() == 0:
            log.touch()
            shutil.chown(log, USER, USER)
        subprocess.run(
            _as_postgres(
                [
                    str(binaries / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(log),
                    "-o",
                    options,
                    "-w",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
            env=env,
        )
        yield PostgresServer(host="127.0.0.1", port=port)
    finally:
        subprocess.run(
            _as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            env=env,
        )
        shutil.rmtree(base, ignore_errors=True)
