"""Who may use the server, and how much: API keys, rate limits, stream and model caps."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import httpx
import pytest

from echoic.engines.scripted import ScriptedEngine, Step
from echoic.errors import ConfigurationError, RateLimitedError, UnauthorizedError
from echoic.server import create_app
from echoic.server.auth import Principal, authenticate_token, is_loopback, principal_from_headers
from echoic.server.slots import StreamSlots
from echoic.settings import Settings
from echoic.storage.keys import MemoryKeyStore
from echoic.storage.store import open_store
from tests.server_kit import (
    SAID,
    assert_error,
    make_app,
    server_settings,
    serving,
    tone_wav,
    upload,
)


@pytest.fixture
def store() -> MemoryKeyStore:
    return MemoryKeyStore()


# -- API keys --------------------------------------------------------------------------------


def test_keys_are_required_when_asked_for(tmp_path: Path, store: MemoryKeyStore) -> None:
    _, good = store.create("ci")
    revoked, revoked_token = store.create("old")
    store.revoke(revoked.id)
    engine = ScriptedEngine.saying(SAID)
    with serving(make_app(tmp_path, {"tiny.en": engine}, store, auth="required")) as client:
        calls = len(engine.calls)
        missing = upload(client, tone_wav())
        wrong = upload(client, tone_wav(), headers={"Authorization": "Bearer ek_00000000_nope"})
        garbage = upload(client, tone_wav(), headers={"Authorization": "Bearer hunter2"})
        old = upload(client, tone_wav(), headers={"Authorization": f"Bearer {revoked_token}"})
        tampered = upload(client, tone_wav(), headers={"X-API-Key": good[:-2] + "xx"})
        assert len(engine.calls) == calls
        bearer = upload(client, tone_wav(), headers={"Authorization": f"Bearer {good}"})
        header = upload(client, tone_wav(), headers={"X-API-Key": good})
        models = client.get("/v1/models")
        health = client.get("/health")
        metrics = client.get("/metrics")
    for refused in (missing, wrong, garbage, old, tampered):
        assert_error(refused, 401, "invalid_api_key")
        assert refused.headers["www-authenticate"] == "Bearer"
    assert "No API key" in missing.json()["error"]["message"]
    assert bearer.json()["text"] == SAID
    assert header.json()["text"] == SAID
    assert_error(models, 401, "invalid_api_key")
    assert health.status_code == 200
    assert metrics.status_code == 200


def test_a_refused_key_costs_no_upload(tmp_path: Path, store: MemoryKeyStore) -> None:
    store.create()
    app = make_app(tmp_path, store=store, auth="required")
    big = tmp_path / "big.bin"
    with big.open("wb") as fh:
        fh.truncate(50 * 1024 * 1024)

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            with big.open("rb") as fh:
                response = await client.post(
                    "/v1/audio/transcriptions", files={"file": ("a.wav", fh, "audio/wav")}
                )
                assert fh.tell() < 1024 * 1024
                return response

    assert_error(asyncio.run(post()), 401, "invalid_api_key")


def test_loopback_needs_no_key(tmp_path: Path, store: MemoryKeyStore) -> None:
    store.create()
    app = make_app(tmp_path, store=store)  # auth "auto" on 127.0.0.1
    assert app.state.echoic.auth_required is False
    with serving(app) as client:
        assert upload(client, tone_wav()).status_code == 200


def test_a_public_address_without_keys_refuses_to_start(tmp_path: Path) -> None:
    engines = {"tiny.en": ScriptedEngine.saying(SAID)}
    with pytest.raises(ConfigurationError, match="echoic keys create"):
        create_app(server_settings(tmp_path, host="0.0.0.0"), engines, MemoryKeyStore())
    with pytest.raises(ConfigurationError, match="ECHOIC_AUTH=required"):
        create_app(server_settings(tmp_path, auth="required"), engines, MemoryKeyStore())
    # the default store (SQLite under data_dir) has no keys either
    with pytest.raises(ConfigurationError):
        create_app(server_settings(tmp_path, host="192.168.1.10"), engines)


def test_a_public_address_with_a_key_requires_it(tmp_path: Path) -> None:
    open_store(Settings(data_dir=tmp_path)).keys.create("ops")
    app = create_app(server_settings(tmp_path, host="0.0.0.0"), {"tiny.en": ScriptedEngine()})
    assert app.state.echoic.auth_required is True


def test_auth_can_be_switched_off_explicitly(tmp_path: Path) -> None:
    settings = server_settings(tmp_path, host="0.0.0.0", auth="disabled")
    app = create_app(settings, {"tiny.en": ScriptedEngine()}, MemoryKeyStore())
    assert app.state.echoic.auth_required is False


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.8.8", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_the_functions_the_websocket_uses(tmp_path: Path, store: MemoryKeyStore) -> None:
    key, token = store.create("mic")
    state = make_app(tmp_path, store=store, auth="required").state.echoic
    caller = Principal(key_id=key.id, name="mic", tenant_id=key.tenant_id)
    assert authenticate_token(state, token) == caller
    assert principal_from_headers(state, {"x-api-key": token}) == caller
    assert principal_from_headers(state, {"authorization": f"bearer {token}"}) is not None
    with pytest.raises(UnauthorizedError):
        authenticate_token(state, None)
    with pytest.raises(UnauthorizedError):
        principal_from_headers(state, {"authorization": f"Basic {token}"})
    open_state = make_app(tmp_path, store=store).state.echoic
    assert authenticate_token(open_state, None) is None


# -- rate limits -----------------------------------------------------------------------------


def test_over_the_rate_limit_is_a_429_with_retry_after(
    tmp_path: Path, store: MemoryKeyStore
) -> None:
    _, first = store.create()
    _, second = store.create()
    app = make_app(tmp_path, store=store, auth="required", rate_limit="3/minute")
    with serving(app) as client:
        answers = [
            upload(client, tone_wav(), headers={"X-API-Key": first}).status_code for _ in range(3)
        ]
        over = upload(client, tone_wav(), headers={"X-API-Key": first})
        models = client.get("/v1/models", headers={"X-API-Key": first})
        other_key = upload(client, tone_wav(), headers={"X-API-Key": second})
        health = client.get("/health")
    assert answers == [200, 200, 200]
    error = assert_error(over, 429, "rate_limit_exceeded")
    assert error["type"] == "requests"
    assert 1 <= int(over.headers["retry-after"]) <= 60
    assert_error(models, 429, "rate_limit_exceeded")  # one budget for all of a key's requests
    assert other_key.status_code == 200  # per key
    assert health.status_code == 200  # operations endpoints are not limited


def test_without_auth_the_limit_is_per_client_address(tmp_path: Path) -> None:
    with serving(make_app(tmp_path, rate_limit="2/minute")) as client:
        codes = [client.get("/v1/models").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_an_invalid_rate_limit_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="rate limit"):
        make_app(tmp_path, rate_limit="lots")


# -- caps --------------------------------------------------------------------------------------


def test_stream_slots_per_key() -> None:
    slots = StreamSlots(per_key=2)
    alice, bob = Principal(key_id="ek_aaaaaaaa"), Principal(key_id="ek_bbbbbbbb")
    with slots.acquire(alice), slots.acquire(alice):
        with pytest.raises(RateLimitedError) as refused, slots.acquire(alice):
            pass
        assert refused.value.ws_close_code == 4429
        with slots.acquire(bob):
            assert slots.open_streams(bob) == 1
        assert slots.open_streams(alice) == 2
    assert slots.open_streams(alice) == 0
    with slots.acquire(alice):  # released slots are free again
        pass


def test_stream_slots_without_auth_are_shared() -> None:
    slots = StreamSlots(per_key=1)
    with slots.acquire(None), pytest.raises(RateLimitedError), slots.acquire(None):
        pass


def test_over_the_model_cap_waits_then_503(tmp_path: Path) -> None:
    engine = ScriptedEngine(steps=[Step(text=SAID, delay_s=0.5)])
    app = make_app(tmp_path, {"tiny.en": engine}, model_concurrency=1, model_queue_timeout_s=0.1)
    body = tone_wav()

    async def post(client: httpx.AsyncClient) -> httpx.Response:
        files = {"file": ("a.wav", body, "audio/wav")}
        return await client.post("/v1/audio/transcriptions", files=files)

    async def three_at_once() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return list(await asyncio.gather(post(client), post(client), post(client)))

    responses = asyncio.run(three_at_once())
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 503, 503]
    for refused in (r for r in responses if r.status_code == 503):
        assert_error(refused, 503, "engine_overloaded")
        assert refused.headers["retry-after"] == "1"


def test_within_the_model_cap_requests_queue(tmp_path: Path) -> None:
    engine = ScriptedEngine(steps=[Step(text=SAID, delay_s=0.1)])
    app = make_app(tmp_path, {"tiny.en": engine}, model_concurrency=1, model_queue_timeout_s=5)
    body = tone_wav()

    async def three_at_once() -> list[int]:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            files = {"file": ("a.wav", body, "audio/wav")}
            posts = [client.post("/v1/audio/transcriptions", files=files) for _ in range(3)]
            return [r.status_code for r in await asyncio.gather(*posts)]

    assert asyncio.run(three_at_once()) == [200, 200, 200]
    starts = sorted(c.started_at for c in engine.calls)
    assert all(b - a >= 0.09 for a, b in itertools.pairwise(starts))  # one at a time
