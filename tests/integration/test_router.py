"""The router over real engines at their boundary: scripted local engines, and the remote engine
talking real HTTP to an echoic app (in-process through ``httpx.ASGITransport``) or to a mock
transport that answers what a misbehaving provider would."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from echoic.audio import decode_audio
from echoic.clock import ManualClock
from echoic.engines.base import Engine
from echoic.engines.remote import RemoteConfig, RemoteEngine
from echoic.engines.scripted import ScriptedEngine, Step
from echoic.errors import (
    ConfigurationError,
    CorruptAudioError,
    EchoicError,
    EngineError,
    EngineTimeoutError,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimitedError,
    ProviderRejectedError,
    ProviderUnavailableError,
)
from echoic.routing import (
    BreakerConfig,
    BreakerState,
    CircuitBreaker,
    PerTier,
    RetryPolicy,
    Router,
    RouterConfig,
    Tier,
    parse_per_tier,
)
from echoic.server import create_app
from echoic.storage.keys import MemoryKeyStore
from echoic.types import Fallback, SttMode, TranscribeOptions, Transcript
from tests.audio_factory import wav_bytes
from tests.server_kit import make_app, metric, server_settings, serving, upload, wait_ready
from tests.speech import JFK_PATH

T = TypeVar("T")
SECOND = np.zeros(16_000, dtype=np.float32)
SECOND_WAV = wav_bytes(np.zeros(16_000, dtype="<i2").tobytes(), sample_rate=16_000)
NO_RETRY = RouterConfig(timeout_s=5.0, retry=RetryPolicy(retries=0))


def fails(message: str = "local broke") -> Step:
    return Step(error=EngineError(message))


def router(
    local: ScriptedEngine,
    cloud: ScriptedEngine | RemoteEngine,
    *,
    config: RouterConfig = NO_RETRY,
    breaker: BreakerConfig | None = None,
    on_skip: Callable[[Fallback], None] | None = None,
) -> Router:
    return Router(
        [
            Tier(name="local:cpu", source="local", engine=local, breaker=CircuitBreaker(breaker)),
            Tier(name="cloud", source="cloud", engine=cloud, breaker=CircuitBreaker(breaker)),
        ],
        config=config,
        on_skip=on_skip,
    )


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def test_the_first_tier_answers_when_it_can() -> None:
    local, cloud = ScriptedEngine.saying("local"), ScriptedEngine.saying("cloud")
    transcript = run(router(local, cloud).transcribe(SECOND, TranscribeOptions()))
    assert (transcript.text, transcript.metadata.provider) == ("local", "local")
    assert transcript.metadata.fallback is None
    assert not cloud.calls


def test_a_failure_falls_back_and_says_so() -> None:
    skips: list[Fallback] = []
    local, cloud = ScriptedEngine(steps=[fails()]), ScriptedEngine.saying("cloud")
    transcript = run(
        router(local, cloud, on_skip=skips.append).transcribe(SECOND, TranscribeOptions())
    )
    assert (transcript.text, transcript.metadata.provider) == ("cloud", "cloud")
    expected = Fallback(
        from_tier="local:cpu", to_tier="cloud", reason="error", detail="local broke"
    )
    assert transcript.metadata.fallback == (expected,)
    assert skips == [expected]


def test_a_slow_tier_times_out_and_the_next_one_answers() -> None:
    local = ScriptedEngine(steps=[Step(text="too late", delay_s=2.0)])
    cloud = ScriptedEngine.saying("cloud")
    config = RouterConfig(timeout_s=0.1, timeout_per_audio_s=0.0, retry=RetryPolicy(retries=0))
    started = time.monotonic()
    transcript = run(router(local, cloud, config=config).transcribe(SECOND, TranscribeOptions()))
    assert time.monotonic() - started < 1.0
    assert transcript.text == "cloud"
    assert transcript.metadata.fallback is not None
    (skip,) = transcript.metadata.fallback
    assert (skip.reason, skip.detail) == ("timeout", "local:cpu did not answer within 0.1 s")


@pytest.mark.parametrize(
    ("budgets", "outcome"),
    [
        # Each tier its own: the slow local hands over after its 0.1 s, the cloud gets 5 s.
        ("0.1,cloud=5", "cloud"),
        ("5,local=0.1", "cloud"),
        ("local:cpu=0.1,remote=5", "cloud"),
        # One budget for both: tight enough for the local engine, it cuts the cloud short too.
        ("0.1", "local:cpu: timeout (local:cpu did not answer within 0.1 s); cloud: timeout"),
    ],
)
def test_each_tier_gets_its_own_budget(budgets: str, outcome: str) -> None:
    local = ScriptedEngine(steps=[Step(text="too late", delay_s=3.0)])
    cloud = ScriptedEngine.saying("cloud", delay_s=0.4)  # longer than the local budget
    config = RouterConfig(
        timeout_s=parse_per_tier(budgets, name="ECHOIC_ROUTE_TIMEOUT_S", default=10.0),
        timeout_per_audio_s=0.0,
        retry=RetryPolicy(retries=0),
    )
    routed = router(local, cloud, config=config)
    started = time.monotonic()
    if outcome != "cloud":
        with pytest.raises(ProviderUnavailableError) as raised:
            run(routed.transcribe(SECOND, TranscribeOptions()))
        assert outcome in raised.value.message
        return
    transcript = run(routed.transcribe(SECOND, TranscribeOptions()))
    elapsed = time.monotonic() - started
    assert (transcript.text, transcript.metadata.provider) == ("cloud", "cloud")
    (skip,) = transcript.metadata.fallback or ()
    assert (skip.from_tier, skip.to_tier, skip.reason) == ("local:cpu", "cloud", "timeout")
    assert skip.detail == "local:cpu did not answer within 0.1 s"
    # The local budget, then the cloud's whole decode: nothing waits out the local engine's 3 s.
    assert 0.5 <= elapsed < 0.1 + 0.4 + 0.5


def test_the_per_audio_part_is_per_tier_too() -> None:
    local = ScriptedEngine(steps=[Step(text="too late", delay_s=3.0)])
    cloud = ScriptedEngine.saying("cloud", delay_s=0.4)
    config = RouterConfig(
        timeout_s=0.1,
        timeout_per_audio_s=PerTier(0.0, {"cloud": 0.5}),  # 1 s of audio: the cloud gets 0.6 s
        retry=RetryPolicy(retries=0),
    )
    transcript = run(router(local, cloud, config=config).transcribe(SECOND, TranscribeOptions()))
    assert transcript.metadata.provider == "cloud"
    (skip,) = transcript.metadata.fallback or ()
    assert skip.detail == "local:cpu did not answer within 0.1 s"


def test_the_budget_grows_with_the_audio() -> None:
    config = RouterConfig(timeout_s=10.0, timeout_per_audio_s=0.5)
    assert config.timeout_for(0) == 10.0
    assert config.timeout_for(60) == 40.0


def test_bad_requests_are_not_retried_elsewhere_and_do_not_count() -> None:
    local = ScriptedEngine(steps=[Step(error=CorruptAudioError("damaged"))])
    cloud = ScriptedEngine.saying("cloud")
    routed = router(local, cloud, breaker=BreakerConfig(failures=1))
    with pytest.raises(CorruptAudioError):
        run(routed.transcribe(SECOND, TranscribeOptions()))
    assert not cloud.calls
    assert routed.tiers[0].breaker.consecutive_failures == 0


def test_transient_failures_are_retried_on_the_same_tier() -> None:
    local = ScriptedEngine(steps=[fails(), Step(text="second try")])
    cloud = ScriptedEngine.saying("cloud")
    config = RouterConfig(retry=RetryPolicy(retries=1, base_s=0.01))
    transcript = run(router(local, cloud, config=config).transcribe(SECOND, TranscribeOptions()))
    assert (transcript.text, transcript.metadata.fallback) == ("second try", None)
    assert len(local.calls) == 2
    assert not cloud.calls


def test_a_providers_retry_after_is_waited_for() -> None:
    limited = ProviderRateLimitedError("slow down", status=429, retry_after_s=0.3)
    cloud = ScriptedEngine(steps=[Step(error=limited), Step(text="cloud")])
    only_cloud = Router(
        [Tier(name="cloud", source="cloud", engine=cloud)],
        config=RouterConfig(retry=RetryPolicy(retries=1, base_s=0.0)),
    )
    started = time.monotonic()
    assert run(only_cloud.transcribe(SECOND, TranscribeOptions())).text == "cloud"
    assert time.monotonic() - started >= 0.3
    assert cloud.calls[1].started_at - cloud.calls[0].started_at >= 0.3


def test_an_open_circuit_skips_the_tier_without_calling_it() -> None:
    local = ScriptedEngine(steps=[fails()])
    cloud = ScriptedEngine.saying("cloud")
    routed = router(local, cloud, breaker=BreakerConfig(failures=2, cooldown_s=60))
    reasons = []
    for _ in range(4):
        transcript = run(routed.transcribe(SECOND, TranscribeOptions()))
        reasons.append([s.reason for s in transcript.metadata.fallback or ()])
    assert reasons == [["error"], ["error"], ["circuit_open"], ["circuit_open"]]
    assert len(local.calls) == 2


def test_a_cancelled_probe_does_not_leave_the_circuit_stuck() -> None:
    clock = ManualClock()
    local = ScriptedEngine(steps=[fails(), Step(text="slow probe", delay_s=5.0), Step(text="ok")])
    breaker = CircuitBreaker(BreakerConfig(failures=1, cooldown_s=10))
    routed = Router(
        [Tier(name="local:cpu", source="local", engine=local, breaker=breaker)],
        config=NO_RETRY,
        clock=clock,
    )

    async def go() -> str:
        with pytest.raises(EngineError):
            await routed.transcribe(SECOND, TranscribeOptions())
        clock.advance(10)  # half-open: the next call is the probe …
        probe = asyncio.ensure_future(routed.transcribe(SECOND, TranscribeOptions()))
        await asyncio.sleep(0.05)
        probe.cancel()  # … and its caller gives up on it
        with pytest.raises(asyncio.CancelledError):
            await probe
        return (await routed.transcribe(SECOND, TranscribeOptions())).text

    assert run(go()) == "ok"
    assert breaker.state(clock.now()) is BreakerState.CLOSED


@pytest.mark.parametrize(
    ("mode", "answer", "local_calls", "cloud_calls"),
    [
        (None, "local", 1, 0),
        (SttMode.AUTO, "local", 1, 0),
        (SttMode.FORCE_LOCAL, "local", 1, 0),
        (SttMode.FORCE_CLOUD, "cloud", 0, 1),
    ],
)
def test_modes_choose_the_tiers(
    mode: SttMode | None, answer: str, local_calls: int, cloud_calls: int
) -> None:
    local, cloud = ScriptedEngine.saying("local"), ScriptedEngine.saying("cloud")
    transcript = run(router(local, cloud).transcribe(SECOND, TranscribeOptions(mode=mode)))
    assert transcript.text == answer
    assert (len(local.calls), len(cloud.calls)) == (local_calls, cloud_calls)


def test_force_local_fails_rather_than_calling_the_cloud() -> None:
    local, cloud = ScriptedEngine(steps=[fails()]), ScriptedEngine.saying("cloud")
    with pytest.raises(EngineError, match="local broke"):
        run(router(local, cloud).transcribe(SECOND, TranscribeOptions(mode=SttMode.FORCE_LOCAL)))
    assert not cloud.calls


def test_when_every_tier_fails_the_error_says_what_happened_to_each() -> None:
    local = ScriptedEngine(steps=[fails()])
    cloud = ScriptedEngine(steps=[Step(error=ProviderError("cloud 502", status=502))])
    routed = router(local, cloud, breaker=BreakerConfig(failures=1, cooldown_s=30))
    with pytest.raises(ProviderUnavailableError) as failed:
        run(routed.transcribe(SECOND, TranscribeOptions()))
    assert failed.value.message == (
        "no provider could transcribe: local:cpu: error (local broke); cloud: error (cloud 502)"
    )
    assert [(s.from_tier, s.to_tier) for s in failed.value.skips] == [  # type: ignore[attr-defined]
        ("local:cpu", "cloud"),
        ("cloud", None),
    ]
    # Both circuits are open now: the error says when to come back.
    with pytest.raises(ProviderUnavailableError) as again:
        run(routed.transcribe(SECOND, TranscribeOptions()))
    assert again.value.retry_after_s == pytest.approx(30, abs=1)


# -- the remote engine -----------------------------------------------------------------------


def remote_for(app: Any, **config: Any) -> RemoteEngine:
    return RemoteEngine(
        RemoteConfig(base_url="http://cloud.test/v1", model="tiny.en", **config),
        transport=httpx.ASGITransport(app=app),
    )


def test_the_remote_engine_speaks_to_an_echoic_server(tmp_path: Path) -> None:
    cloud_app = make_app(tmp_path, {"tiny.en": ScriptedEngine.saying("ask not what your country")})

    async def go() -> Transcript:
        engine = remote_for(cloud_app)
        try:
            return await engine.transcribe(SECOND, TranscribeOptions(word_timestamps=True))
        finally:
            await engine.aclose()

    with TestClient(cloud_app) as client:  # runs the app's startup (warm-up and self-test)
        wait_ready(client)
        transcript = run(go())
    assert transcript.text == "ask not what your country"
    assert transcript.metadata.provider == "cloud"
    assert transcript.metadata.engine == "remote"
    assert transcript.language == "en"
    assert transcript.duration == pytest.approx(1.0)
    words = transcript.words
    assert words is not None
    assert [w.word for w in words] == ["ask", "not", "what", "your", "country"]


def mock_remote(handler: Callable[[httpx.Request], httpx.Response], **config: Any) -> RemoteEngine:
    return RemoteEngine(
        RemoteConfig(base_url="http://cloud.test/v1", api_key="sk-test", **config),
        transport=httpx.MockTransport(handler),
    )


def error_answer(status: int, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"error": {"message": f"nope {status}", "type": "x", "code": "y"}}
        return httpx.Response(status, json=body, headers=headers)

    return handler


@pytest.mark.parametrize(
    ("handler", "error", "retry_after"),
    [
        (error_answer(401), ProviderAuthError, None),
        (error_answer(403), ProviderAuthError, None),
        (error_answer(400), ProviderRejectedError, None),
        (error_answer(429, **{"Retry-After": "7"}), ProviderRateLimitedError, 7.0),
        (error_answer(503, **{"Retry-After": "2"}), ProviderError, 2.0),
        (error_answer(500), ProviderError, None),
        (lambda _r: httpx.Response(200, text="<html>"), ProviderError, None),
        (lambda _r: httpx.Response(200, json={"no": "text"}), ProviderError, None),
    ],
)
def test_provider_answers_become_errors_of_the_tree(
    handler: Callable[[httpx.Request], httpx.Response],
    error: type[EchoicError],
    retry_after: float | None,
) -> None:
    async def go() -> None:
        engine = mock_remote(handler)
        try:
            await engine.transcribe(SECOND, TranscribeOptions())
        finally:
            await engine.aclose()

    with pytest.raises(error) as raised:
        run(go())
    assert type(raised.value) is error
    assert getattr(raised.value, "retry_after_s", None) == retry_after


def test_network_failures_and_timeouts() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out", request=request)

    async def go(handler: Callable[[httpx.Request], httpx.Response]) -> None:
        engine = mock_remote(handler)
        try:
            await engine.transcribe(SECOND, TranscribeOptions())
        finally:
            await engine.aclose()

    with pytest.raises(ProviderError, match="cannot reach the remote provider"):
        run(go(refuse))
    with pytest.raises(EngineTimeoutError, match="did not answer within"):
        run(go(hang))


def test_what_the_remote_engine_sends() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = {
            "text": "hola",
            "language": "spanish",
            "duration": 1.0,
            "segments": [{"start": 0.0, "end": 1.0, "text": "hola", "avg_logprob": -0.1}],
            "words": [{"word": "hola", "start": 0.1, "end": 0.6}],
        }
        return httpx.Response(200, json=body)

    async def go() -> Transcript:
        engine = mock_remote(handler, model="whisper-1")
        try:
            options = TranscribeOptions(language="es", prompt="Saludos", word_timestamps=True)
            return await engine.transcribe(SECOND, options)
        finally:
            await engine.aclose()

    transcript = run(go())
    (request,) = seen
    assert request.url.path == "/v1/audio/transcriptions"
    assert request.headers["authorization"] == "Bearer sk-test"
    form = request.content.decode("latin-1")
    for field, value in [
        ("model", "whisper-1"),
        ("response_format", "verbose_json"),
        ("language", "es"),
        ("prompt", "Saludos"),
    ]:
        assert f'name="{field}"\r\n\r\n{value}\r\n' in form
    assert form.count('name="timestamp_granularities[]"') == 2
    assert 'filename="audio.wav"' in form
    assert "RIFF" in form
    assert "WAVEfmt " in form
    assert transcript.text == "hola"
    assert transcript.language == "spanish"
    assert transcript.segments[0].confidence == pytest.approx(0.9048, abs=1e-3)
    assert [w.word for w in transcript.words or ()] == ["hola"]


# -- the server with a cloud tier --------------------------------------------------------------


def with_cloud(tmp_path: Path, local: Engine, cloud: Engine, **changes: Any) -> FastAPI:
    settings = server_settings(tmp_path, route_retries=0, **changes)
    return create_app(settings, {"tiny.en": local}, MemoryKeyStore(), cloud=cloud)


def test_the_server_falls_back_to_its_cloud_and_counts_it(tmp_path: Path) -> None:
    (tmp_path / "cloud").mkdir()
    cloud_app = make_app(tmp_path / "cloud", {"tiny.en": ScriptedEngine.saying("from the cloud")})
    local = ScriptedEngine(steps=[Step(text="self-test"), fails()])
    with TestClient(cloud_app) as cloud_client:
        wait_ready(cloud_client)
        with serving(with_cloud(tmp_path, local, remote_for(cloud_app))) as client:
            response = upload(client, SECOND_WAV)
            assert response.status_code == 200, response.text
            assert response.json()["text"] == "from the cloud"
            assert response.headers["x-echoic-source"] == "cloud"
            text = client.get("/metrics").text
    labels = {"from": "local:cpu", "to": "cloud", "reason": "error"}
    assert metric(text, "echoic_stt_fallbacks_total", labels) == 1
    assert metric(text, "echoic_stt_requests_total", {"source": "cloud", "status": "200"}) == 1
    assert metric(text, "echoic_stt_latency_seconds_count", {"source": "cloud"}) == 1


def test_a_slow_self_test_starts_the_local_engine_demoted(tmp_path: Path) -> None:
    slow = ScriptedEngine(steps=[Step(text="self-test", delay_s=0.3), Step(text="local")])
    app = with_cloud(tmp_path, slow, ScriptedEngine.saying("cloud"), self_test_max_s=0.1)
    with serving(app) as client:
        ready = client.get("/ready").json()
        assert ready["self_test"]["slow"] is True
        local, remote = ready["providers"]
        assert (local["name"], local["state"]) == ("local:cpu", "open")
        assert "the startup self-test took" in local["reason"]
        assert remote == {
            "name": "cloud",
            "source": "cloud",
            "state": "closed",
            "reason": None,
            "consecutive_failures": 0,
            "retry_after_s": None,
        }
        assert set(ready["machine"]) == {"cuda_devices", "cpu_count", "memory_mb"}
        response = upload(client, SECOND_WAV)
        assert response.headers["x-echoic-source"] == "cloud"
        assert response.headers["x-echoic-fallback"] == "local:cpu->cloud (circuit_open)"


def test_a_slow_self_test_without_a_cloud_still_serves_locally(tmp_path: Path) -> None:
    slow = ScriptedEngine(steps=[Step(text="self-test", delay_s=0.3), Step(text="local")])
    with serving(make_app(tmp_path, {"tiny.en": slow}, self_test_max_s=0.1)) as client:
        ready = client.get("/ready").json()
        assert ready["self_test"]["slow"] is True
        assert [(p["name"], p["state"]) for p in ready["providers"]] == [("local:cpu", "closed")]
        assert upload(client, SECOND_WAV).json()["text"] == "local"


def test_a_request_may_not_ask_for_a_provider_the_server_lacks(tmp_path: Path) -> None:
    with serving(make_app(tmp_path)) as client:
        response = upload(client, SECOND_WAV, stt_mode="force_cloud")
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["param"] == "stt_mode"
        assert "no cloud provider" in error["message"]
        assert upload(client, SECOND_WAV, stt_mode="sideways").status_code == 400


def test_mode_overrides_can_be_switched_off(tmp_path: Path) -> None:
    local, cloud = ScriptedEngine.saying("local"), ScriptedEngine.saying("cloud")
    with serving(with_cloud(tmp_path, local, cloud, allow_mode_override=False)) as client:
        response = upload(client, SECOND_WAV, stt_mode="force_cloud")
        assert response.status_code == 400
        assert "does not let requests choose" in response.json()["error"]["message"]
        assert upload(client, SECOND_WAV).json()["text"] == "local"


def test_the_kill_switch_takes_the_cloud_out(tmp_path: Path) -> None:
    local = ScriptedEngine(steps=[Step(text="self-test"), fails()])
    cloud = ScriptedEngine.saying("cloud")
    with serving(with_cloud(tmp_path, local, cloud, cloud_enabled=False)) as client:
        assert [p["name"] for p in client.get("/ready").json()["providers"]] == ["local:cpu"]
        response = upload(client, SECOND_WAV)
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "engine_error"
    assert not cloud.calls


def test_the_server_gives_each_tier_the_budget_its_settings_say(tmp_path: Path) -> None:
    local = ScriptedEngine(steps=[Step(text="self-test"), Step(text="too late", delay_s=3.0)])
    cloud = ScriptedEngine.saying("from the cloud", delay_s=0.4)
    app = with_cloud(
        tmp_path,
        local,
        cloud,
        route_timeout_s="local=0.2,cloud=5",
        route_timeout_per_audio_s="local=0",
    )
    with serving(app) as client:
        started = time.monotonic()
        response = upload(client, SECOND_WAV)
        elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.json()["text"] == "from the cloud"
    assert response.headers["x-echoic-fallback"] == "local:cpu->cloud (timeout)"
    assert elapsed < 0.2 + 0.4 + 0.5


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("route_timeout_s", "gpu=2", "unknown tier 'gpu' in ECHOIC_ROUTE_TIMEOUT_S"),
        ("route_timeout_s", "local=soon", "ECHOIC_ROUTE_TIMEOUT_S: 'soon' is not a number"),
        ("route_timeout_s", "0", "ECHOIC_ROUTE_TIMEOUT_S: '0' is not a number of seconds"),
        ("route_timeout_per_audio_s", "cloud=-1", "ECHOIC_ROUTE_TIMEOUT_PER_AUDIO_S: '-1'"),
    ],
)
def test_a_budget_that_does_not_parse_refuses_to_start(
    tmp_path: Path, setting: str, value: str, message: str
) -> None:
    changes: dict[str, Any] = {setting: value}
    with pytest.raises(ConfigurationError) as raised:
        make_app(tmp_path, **changes)
    assert message in raised.value.message


def test_no_provider_left_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no transcription provider is left"):
        make_app(tmp_path, local_enabled=False)


def test_the_websocket_reports_a_fallback_before_the_final(
    tmp_path: Path, shared_dir: Path
) -> None:
    local = ScriptedEngine(steps=[Step(text="self-test"), fails()])
    cloud = ScriptedEngine.saying("said in the cloud")
    speech = decode_audio(shared_dir / JFK_PATH)[: 3 * 16_000]  # "And so my fellow Americans"
    pcm = (np.concatenate([speech, SECOND]) * 32767).astype("<i2").tobytes()
    events: list[dict[str, Any]] = []
    with (
        serving(with_cloud(tmp_path, local, cloud)) as client,
        client.websocket_connect("/v1/listen") as ws,
    ):
        ws.send_text(json.dumps({"type": "start", "sample_rate": 16000}))
        assert ws.receive_json()["type"] == "ready"
        for offset in range(0, len(pcm), 16_000):
            ws.send_bytes(pcm[offset : offset + 16_000])
        ws.send_text(json.dumps({"type": "stop"}))
        while not events or events[-1]["type"] != "end":
            events.append(ws.receive_json())
    finals = [e for e in events if e["type"] == "final"]
    assert [(f["source"], f["text"]) for f in finals] == [("cloud", "said in the cloud")]
    fallbacks = [e for e in events if e["type"] == "fallback"]
    assert fallbacks
    assert all(e["seq"] < finals[0]["seq"] for e in fallbacks)
    assert {(e["from"], e["to"]) for e in fallbacks} == {("local:cpu", "cloud")}
    # Drafts stay local: they failed, and said so once, not every 250 ms.
    warnings = [e for e in events if e["type"] == "warning" and e["code"] == "draft_failed"]
    assert len(warnings) <= 1
