"""API keys: created once, shown once, stored only as a hash.

A key reads ``ek_1a2b3c4d_<secret>``: ``ek_1a2b3c4d`` is its public id (safe to list, log and
revoke by), the secret is 256 random bits. The store keeps the id, a name, the times it was
created and revoked, and the SHA-256 of the whole key; a SHA-256 of a high-entropy secret needs
no salt or slow hash, because there is nothing to guess. Lookups go by id, and the hash is
compared in constant time.

:class:`SqliteKeyStore` is the default (a file under the data directory, shared by the server
and ``echoic keys``); :class:`MemoryKeyStore` is the same thing in memory, for tests.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

PREFIX = "ek"
_ID_HEX = 8  # 32 bits: enough to tell one installation's keys apart, short enough to type
_SECRET_BYTES = 32


@dataclass(frozen=True, kw_only=True)
class ApiKey:
    id: str
    name: str | None
    created_at: float
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class KeyStore(Protocol):
    def create(self, name: str | None = None) -> tuple[ApiKey, str]:
        """A new key and its token; the token is not stored and cannot be shown again."""
        ...

    def list(self) -> list[ApiKey]: ...

    def revoke(self, key_id: str) -> ApiKey | None:
        """Revoke a key by id (``ek_…``); ``None`` when there is no such key."""
        ...

    def verify(self, token: str) -> ApiKey | None:
        """The active key this token belongs to, or ``None``."""
        ...

    def has_active_keys(self) -> bool: ...


def new_token() -> tuple[str, str]:
    """A fresh ``(key_id, token)``."""
    key_id = f"{PREFIX}_{secrets.token_hex(_ID_HEX // 2)}"
    return key_id, f"{key_id}_{secrets.token_urlsafe(_SECRET_BYTES)}"


def key_id_of(token: str) -> str | None:
    """The public id a token claims, or ``None`` when it does not look like an echoic key."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != _ID_HEX or not parts[2]:
        return None
    return f"{parts[0]}_{parts[1]}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _matches(token: str, digest: str) -> bool:
    return hmac.compare_digest(hash_token(token), digest)


class MemoryKeyStore:
    def __init__(self) -> None:
        self._keys: dict[str, tuple[ApiKey, str]] = {}
        self._lock = threading.Lock()

    def create(self, name: str | None = None) -> tuple[ApiKey, str]:
        key_id, token = new_token()
        key = ApiKey(id=key_id, name=name, created_at=time.time())
        with self._lock:
            self._keys[key_id] = (key, hash_token(token))
        return key, token

    def list(self) -> list[ApiKey]:
        with self._lock:
            return sorted((k for k, _ in self._keys.values()), key=lambda k: k.created_at)

    def revoke(self, key_id: str) -> ApiKey | None:
        with self._lock:
            entry = self._keys.get(key_id)
            if entry is None:
                return None
            key, digest = entry
            if key.active:
                key = replace(key, revoked_at=time.time())
                self._keys[key_id] = (key, digest)
            return key

    def verify(self, token: str) -> ApiKey | None:
        key_id = key_id_of(token)
        with self._lock:
            entry = self._keys.get(key_id) if key_id else None
        if entry is None or not entry[0].active or not _matches(token, entry[1]):
            return None
        return entry[0]

    def has_active_keys(self) -> bool:
        with self._lock:
            return any(k.active for k, _ in self._keys.values())


_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT,
    sha256 TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL
)
"""


class SqliteKeyStore:
    """Keys in a SQLite file; one short connection per call, so any thread (and the CLI, in
    another process) may use it at the same time."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one call; the file is created on the first write, not before, so a
        server that never had keys leaves nothing behind."""
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.path.touch(mode=0o600)  # hashes only, but nobody else needs to read them
        with closing(sqlite3.connect(self.path, timeout=10.0)) as db, db:
            db.execute(_SCHEMA)
            yield db

    def create(self, name: str | None = None) -> tuple[ApiKey, str]:
        key_id, token = new_token()
        key = ApiKey(id=key_id, name=name, created_at=time.time())
        with self._connect() as db:
            db.execute(
                "INSERT INTO api_keys (id, name, sha256, created_at) VALUES (?, ?, ?, ?)",
                (key.id, key.name, hash_token(token), key.created_at),
            )
        return key, token

    def list(self) -> list[ApiKey]:
        if not self.path.exists():
            return []
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, name, created_at, revoked_at FROM api_keys ORDER BY created_at"
            ).fetchall()
        return [ApiKey(id=r[0], name=r[1], created_at=r[2], revoked_at=r[3]) for r in rows]

    def revoke(self, key_id: str) -> ApiKey | None:
        if not self.path.exists():
            return None
        with self._connect() as db:
            db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (time.time(), key_id),
            )
            row = db.execute(
                "SELECT id, name, created_at, revoked_at FROM api_keys WHERE id = ?", (key_id,)
            ).fetchone()
        if row is None:
            return None
        return ApiKey(id=row[0], name=row[1], created_at=row[2], revoked_at=row[3])

    def verify(self, token: str) -> ApiKey | None:
        key_id = key_id_of(token)
        if key_id is None or not self.path.exists():
            return None
        with self._connect() as db:
            row = db.execute(
                "SELECT id, name, created_at, sha256 FROM api_keys"
                " WHERE id = ? AND revoked_at IS NULL",
                (key_id,),
            ).fetchone()
        if row is None or not _matches(token, row[3]):
            return None
        return ApiKey(id=row[0], name=row[1], created_at=row[2])

    def has_active_keys(self) -> bool:
        if not self.path.exists():
            return False
        with self._connect() as db:
            row = db.execute("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1").fetchone()
        return row is not None


def default_key_store(data_dir: Path) -> SqliteKeyStore:
    return SqliteKeyStore(data_dir / "keys.sqlite3")
