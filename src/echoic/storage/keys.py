"""API keys: created once, shown once, stored only as a hash.

A key reads ``ek_1a2b3c4d_<secret>``: ``ek_1a2b3c4d`` is its public id (safe to list, log and
revoke by), the secret is 256 random bits. The store keeps the id, a name, the times it was
created and revoked, and the SHA-256 of the whole key; a SHA-256 of a high-entropy secret needs
no salt or slow hash, because there is nothing to guess. Lookups go by id, and the hash is
compared in constant time.

:class:`SqlKeyStore` keeps them in echoic's database (SQLite under the data directory, or the
PostgreSQL every server shares), beside the tenants they belong to; :class:`MemoryKeyStore` is
the same thing in memory, for tests of the server alone.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from echoic.errors import NotFoundError
from echoic.storage import schema
from echoic.storage.db import Database
from echoic.storage.records import LOCAL_TENANT

PREFIX = "ek"
_ID_HEX = 8  # 32 bits: enough to tell one installation's keys apart, short enough to type
_SECRET_BYTES = 32


@dataclass(frozen=True, kw_only=True)
class ApiKey:
    id: str
    name: str | None
    created_at: float
    revoked_at: float | None = None
    #: The tenant whose media, jobs and transcripts the key sees.
    tenant_id: str = LOCAL_TENANT

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class KeyStore(Protocol):
    def create(self, name: str | None = None, tenant_id: str | None = None) -> tuple[ApiKey, str]:
        """A new key (in a new tenant of its own unless ``tenant_id`` names one) and its
        token; the token is not stored and cannot be shown again."""
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

    def create(self, name: str | None = None, tenant_id: str | None = None) -> tuple[ApiKey, str]:
        key_id, token = new_token()
        tenant_id = tenant_id or f"tn_{key_id.removeprefix(PREFIX + '_')}"
        key = ApiKey(id=key_id, name=name, created_at=time.time(), tenant_id=tenant_id)
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


class SqlKeyStore:
    """Keys in echoic's database (:mod:`echoic.storage.db`), shared by every server, worker and
    ``echoic keys`` that uses it. Each key belongs to a tenant: a new one of its own unless
    ``tenant_id`` names an existing tenant (several keys of one team)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, name: str | None = None, tenant_id: str | None = None) -> tuple[ApiKey, str]:
        key_id, token = new_token()
        now = time.time()
        with self.db.write() as conn:
            if tenant_id is None:
                tenant_id = f"tn_{key_id.removeprefix(PREFIX + '_')}"
                conn.execute(
                    schema.tenants.insert().values(
                        id=tenant_id, name=name or tenant_id, created_at=now
                    )
                )
            elif not _tenant_exists(conn, tenant_id):
                raise NotFoundError(f"No tenant {tenant_id!r}; see `echoic keys list`.")
            conn.execute(
                schema.api_keys.insert().values(
                    id=key_id,
                    tenant_id=tenant_id,
                    name=name,
                    sha256=hash_token(token),
                    created_at=now,
                )
            )
        return ApiKey(id=key_id, name=name, created_at=now, tenant_id=tenant_id), token

    def list(self) -> list[ApiKey]:
        keys = schema.api_keys
        with self.db.read() as conn:
            rows = conn.execute(sa.select(keys).order_by(keys.c.created_at)).mappings()
            return [_key_of(row) for row in rows]

    def revoke(self, key_id: str) -> ApiKey | None:
        keys = schema.api_keys
        with self.db.write() as conn:
            conn.execute(
                keys.update()
                .where(keys.c.id == key_id, keys.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            )
            row = conn.execute(sa.select(keys).where(keys.c.id == key_id)).mappings().first()
        return None if row is None else _key_of(row)

    def verify(self, token: str) -> ApiKey | None:
        key_id = key_id_of(token)
        if key_id is None:
            return None
        keys = schema.api_keys
        with self.db.read() as conn:
            row = (
                conn.execute(
                    sa.select(keys).where(keys.c.id == key_id, keys.c.revoked_at.is_(None))
                )
                .mappings()
                .first()
            )
        if row is None or not _matches(token, row["sha256"]):
            return None
        return _key_of(row)

    def has_active_keys(self) -> bool:
        keys = schema.api_keys
        with self.db.read() as conn:
            active = conn.execute(sa.select(keys.c.id).where(keys.c.revoked_at.is_(None)))
            return active.first() is not None

    def import_legacy(self, path: Path) -> int:
        """Move the keys of an older echoic (``keys.sqlite3``, before keys lived in the
        database) in, each in a tenant of its own, once: the file is then renamed
        ``*.imported``. Returns how many keys moved."""
        if not path.is_file():
            return 0
        with closing(sqlite3.connect(path)) as old:
            rows = old.execute(
                "SELECT id, name, sha256, created_at, revoked_at FROM api_keys"
            ).fetchall()
        imported = 0
        with self.db.write() as conn:
            for key_id, name, digest, created_at, revoked_at in rows:
                exists = conn.execute(
                    sa.select(schema.api_keys.c.id).where(schema.api_keys.c.id == key_id)
                ).first()
                if exists is not None:
                    continue
                tenant_id = f"tn_{key_id.removeprefix(PREFIX + '_')}"
                conn.execute(
                    schema.tenants.insert().values(
                        id=tenant_id, name=name or tenant_id, created_at=created_at
                    )
                )
                conn.execute(
                    schema.api_keys.insert().values(
                        id=key_id,
                        tenant_id=tenant_id,
                        name=name,
                        sha256=digest,
                        created_at=created_at,
                        revoked_at=revoked_at,
                    )
                )
                imported += 1
        path.rename(path.with_name(path.name + ".imported"))
        return imported


def _tenant_exists(conn: Connection, tenant_id: str) -> bool:
    tenants = schema.tenants
    return (
        conn.execute(sa.select(tenants.c.id).where(tenants.c.id == tenant_id)).first() is not None
    )


def _key_of(row: sa.RowMapping) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        tenant_id=row["tenant_id"],
    )


#: Where echoic kept its keys before they moved into the database.
LEGACY_FILE = "keys.sqlite3"
