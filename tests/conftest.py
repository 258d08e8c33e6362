"""Fixtures every tier shares."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg_kit import PostgresServer, bindir, postgres_server

#: The shared data (evaluation clips, seeds) lives in ``shared/`` beside the repository.
SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout; CI must have it, a laptop may not."""
    if not SHARED_DIR.is_dir():
        reason = f"shared data not found at {SHARED_DIR} (check it out beside the repository)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return SHARED_DIR


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session (skipped where PostgreSQL is not installed,
    except in CI, which must run the PostgreSQL half of the suite)."""
    if bindir() is None:
        reason = "PostgreSQL server binaries not found (pg_config --bindir)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with postgres_server() as server:
        yield server


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest, postgres: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL server."""
    name = "t_" + uuid.uuid4().hex[:16]
    url = postgres.create_database(name)
    yield url
    postgres.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage and jobs test runs twice: on a SQLite file and on a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'echoic.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url
