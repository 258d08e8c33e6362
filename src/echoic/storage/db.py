"""One database, two engines: a SQLite file by default, PostgreSQL to share it between machines.

    db = Database.open("sqlite:////var/lib/echoic/echoic.sqlite3")   # or postgresql://…
    with db.write() as conn: ...    # one transaction that may write
    with db.read() as conn: ...     # one transaction that only reads

Everything above this module is written once, in SQLAlchemy Core, for both dialects; the only
difference lives here. SQLite serialises writers itself, but Python's driver opens its
transactions lazily (``BEGIN DEFERRED``), so two processes that both read a queued job and then
write it could both claim it: :meth:`Database.write` therefore begins with ``BEGIN IMMEDIATE``,
which takes SQLite's write lock before the first read, and waits up to ``busy_timeout`` for it
(SQLAlchemy's documented recipe for pysqlite's transaction handling). WAL journaling lets the
readers go on meanwhile. On PostgreSQL, writers that claim jobs use ``FOR UPDATE SKIP LOCKED``
(:mod:`echoic.storage.jobs`), so they never wait for each other.

Migrations (Alembic, ``echoic/storage/migrations``) run on :meth:`Database.open` unless told
not to, and by ``echoic db upgrade``; on PostgreSQL under an advisory lock, so servers and
workers starting together migrate once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from echoic.errors import ConfigurationError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_FILE = "echoic.sqlite3"
_BUSY_TIMEOUT_MS = 30_000  # a writer waits this long for another process's transaction
_MIGRATION_LOCK = 0x6563686F  # "echo": the advisory lock id migrations hold on PostgreSQL


def default_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / SQLITE_FILE).resolve()}"


def normalize_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 (the driver echoic installs)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Database:
    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        try:
            parsed = sa.make_url(self.url)
        except (SQLAlchemyError, ValueError) as exc:
            raise ConfigurationError(f"invalid database URL: {exc}") from exc
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self._writer = _sqlite_engine(self.url, immediate=True)
            self._reader = _sqlite_engine(self.url, immediate=False)
        elif self.dialect == "postgresql":
            self._writer = sa.create_engine(self.url, pool_pre_ping=True, pool_size=5)
            self._reader = self._writer
        else:
            raise ConfigurationError(
                f"unsupported database {self.dialect!r}: use sqlite:///PATH or postgresql://…"
            )

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Database:
        """Connect (and bring the schema up to date); a database that cannot be reached is a
        :class:`ConfigurationError` naming it, with the password left out."""
        db = cls(url)
        try:
            if migrate:
                db.upgrade()
            else:
                with db.read() as conn:
                    conn.execute(sa.text("SELECT 1"))
        except SQLAlchemyError as exc:
            db.close()
            raise ConfigurationError(
                f"cannot use the database {db.display_url}: {exc.__class__.__name__}: "
                f"{str(exc).splitlines()[0]}"
            ) from exc
        return db

    @property
    def display_url(self) -> str:
        return sa.make_url(self.url).render_as_string(hide_password=True)

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self._writer.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self._reader.begin() as conn:
            yield conn

    def upgrade(self, revision: str = "head") -> None:
        """Apply the migrations up to ``revision`` (Alembic's ``upgrade``)."""
        with self._writer.connect() as conn:
            if self.is_postgres:
                conn.execute(sa.text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK})
                conn.commit()
            try:
                config = alembic_config()
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
                conn.commit()
            finally:
                if self.is_postgres:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:id)"), {"id": _MIGRATION_LOCK})
                    conn.commit()

    def revision(self) -> str | None:
        """The schema revision the database is at (``None``: never migrated)."""
        with self._reader.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def close(self) -> None:
        self._writer.dispose()
        if self._reader is not self._writer:
            self._reader.dispose()


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    engine = sa.create_engine(url, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, say when transactions begin (the pysqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
