"""API key stores: tokens shown once, stored hashed, revocable; SQLite and memory alike."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from echoic.storage.db import Database
from echoic.storage.keys import (
    KeyStore,
    MemoryKeyStore,
    SqlKeyStore,
    hash_token,
    key_id_of,
    new_token,
)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyStore]:
    if request.param == "memory":
        yield MemoryKeyStore()
        return
    db = Database.open(f"sqlite:///{tmp_path / 'k.db'}")
    yield SqlKeyStore(db)
    db.close()


def test_a_created_key_verifies(store: KeyStore) -> None:
    key, token = store.create("laptop")
    assert token.startswith(key.id + "_")
    assert key.id.startswith("ek_")
    assert len(token) > 40
    assert store.verify(token) == key
    assert store.has_active_keys()


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t + "x",
        lambda t: t[:-1],
        lambda t: t.upper(),
        lambda t: "",
        lambda t: "ek_",
        lambda t: t.split("_", 2)[0] + "_" + t.split("_", 2)[1],  # the public id alone
        lambda t: "ek_ffffffff_" + t.split("_", 2)[2],  # the secret under another id
    ],
)
def test_anything_but_the_token_fails(store: KeyStore, mangle: object) -> None:
    _, token = store.create()
    assert callable(mangle)
    assert store.verify(mangle(token)) is None


def test_revoked_keys_fail_and_stay_listed(store: KeyStore) -> None:
    key, token = store.create("old")
    other, other_token = store.create("new")
    revoked = store.revoke(key.id)
    assert revoked is not None
    assert revoked.revoked_at is not None
    assert store.verify(token) is None
    assert store.verify(other_token) == other
    assert [(k.id, k.active) for k in store.list()] == [(key.id, False), (other.id, True)]
    assert store.revoke("ek_00000000") is None
    store.revoke(other.id)
    assert not store.has_active_keys()


def test_an_empty_store(store: KeyStore) -> None:
    assert store.list() == []
    assert not store.has_active_keys()
    assert store.verify(new_token()[1]) is None
    assert store.revoke("ek_12345678") is None


def test_each_key_gets_its_own_tenant_unless_told(store: KeyStore) -> None:
    first, _ = store.create("alice")
    second, _ = store.create("bob")
    shared, token = store.create("alice's laptop", first.tenant_id)
    assert first.tenant_id != second.tenant_id
    assert shared.tenant_id == first.tenant_id
    assert store.verify(token) == shared


def test_the_database_keeps_only_hashes(tmp_path: Path) -> None:
    path = tmp_path / "echoic.sqlite3"
    db = Database.open(f"sqlite:///{path}")
    key, token = SqlKeyStore(db).create("ci")
    db.close()
    with sqlite3.connect(path) as raw:
        [(digest,)] = raw.execute("SELECT sha256 FROM api_keys WHERE id = ?", (key.id,))
    assert digest == hash_token(token)
    assert token.encode() not in path.read_bytes()
    other = Database.open(f"sqlite:///{path}")  # another process sees it
    assert SqlKeyStore(other).verify(token) == key
    other.close()


def test_keys_of_an_older_echoic_move_into_the_database(tmp_path: Path) -> None:
    legacy = tmp_path / "keys.sqlite3"
    with sqlite3.connect(legacy) as raw:
        raw.execute(
            "CREATE TABLE api_keys (id TEXT PRIMARY KEY, name TEXT, sha256 TEXT NOT NULL,"
            " created_at REAL NOT NULL, revoked_at REAL)"
        )
        key_id, token = new_token()
        raw.execute(
            "INSERT INTO api_keys VALUES (?, ?, ?, ?, NULL)",
            (key_id, "old", hash_token(token), 1.0),
        )
    raw.close()
    db = Database.open(f"sqlite:///{tmp_path / 'echoic.sqlite3'}")
    store = SqlKeyStore(db)
    assert store.import_legacy(legacy) == 1
    assert not legacy.exists()
    moved = store.verify(token)
    assert moved is not None
    assert moved.name == "old"
    assert store.import_legacy(legacy) == 0  # once
    db.close()


def test_key_ids() -> None:
    key_id, token = new_token()
    assert key_id_of(token) == key_id
    assert key_id_of("sk-openai-style") is None
    assert key_id_of("ek_short_secret") is None
