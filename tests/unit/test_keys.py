"""API key stores: tokens shown once, stored hashed, revocable; SQLite and memory alike."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from echoic.storage.keys import (
    KeyStore,
    MemoryKeyStore,
    SqliteKeyStore,
    hash_token,
    key_id_of,
    new_token,
)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> KeyStore:
    return MemoryKeyStore() if request.param == "memory" else SqliteKeyStore(tmp_path / "k.db")


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


def test_an_empty_store(tmp_path: Path) -> None:
    store = SqliteKeyStore(tmp_path / "sub" / "keys.db")
    assert store.list() == []
    assert not store.has_active_keys()
    assert store.verify(new_token()[1]) is None
    assert store.revoke("ek_12345678") is None
    assert not (tmp_path / "sub").exists()  # reading creates nothing


def test_sqlite_keeps_only_hashes(tmp_path: Path) -> None:
    path = tmp_path / "keys.db"
    key, token = SqliteKeyStore(path).create("ci")
    assert path.stat().st_mode & 0o777 == 0o600
    assert token.encode() not in path.read_bytes()
    with sqlite3.connect(path) as db:
        [(digest,)] = db.execute("SELECT sha256 FROM api_keys WHERE id = ?", (key.id,))
    assert digest == hash_token(token)
    assert SqliteKeyStore(path).verify(token) == key  # another process sees it


def test_key_ids() -> None:
    key_id, token = new_token()
    assert key_id_of(token) == key_id
    assert key_id_of("sk-openai-style") is None
    assert key_id_of("ek_short_secret") is None
