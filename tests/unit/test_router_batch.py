"""The router and live drafts batched across streams: a batch stays on the local tiers (drafts
are ``force_local``), goes to the first local tier as one call, falls back like one call, and
is split into routed calls per audio when a cloud tier could answer."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np
import pytest

from echoic.engines.base import BatchEngine
from echoic.engines.scripted import ScriptedEngine, Step
from echoic.errors import EngineError, ProviderUnavailableError
from echoic.routing import RetryPolicy, Router, RouterConfig, Tier
from echoic.streaming.decoding import DecodeKind, DecodeRequest
from echoic.streaming.scheduler import ModelScheduler
from echoic.types import SttMode, TranscribeOptions
from tests.batch_kit import BatchingEngine
from tests.stream_kit import run_async

T = TypeVar("T")
DRAFT = TranscribeOptions(beam_size=1, encoder_pad_s=2.0, mode=SttMode.FORCE_LOCAL)
NO_RETRY = RouterConfig(timeout_s=5.0, retry=RetryPolicy(retries=0))


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return run_async(coroutine, timeout_s=5.0)


def audio(id: int) -> np.ndarray:
    return np.zeros(16 * id, dtype=np.float32)


def local(engine: Any, name: str = "local:cpu") -> Tier:
    return Tier(name=name, source="local", engine=engine)


def cloud(engine: Any) -> Tier:
    return Tier(name="cloud", source="cloud", engine=engine)


def test_a_router_batches_only_what_its_local_tiers_alone_may_answer() -> None:
    batching = BatchingEngine(limit=6)
    with_cloud = Router([local(batching), cloud(ScriptedEngine())], config=NO_RETRY)

    assert isinstance(with_cloud, BatchEngine)
    assert with_cloud.batch_limit(DRAFT) == 6  # force_local: the cloud is out of the picture
    assert with_cloud.batch_limit(replace(DRAFT, mode=SttMode.AUTO)) == 1
    assert with_cloud.batch_limit(replace(DRAFT, mode=SttMode.FORCE_CLOUD)) == 1
    assert with_cloud.batch_limit(replace(DRAFT, encoder_pad_s=None)) == 1  # the engine's say
    assert Router([local(ScriptedEngine())]).batch_limit(DRAFT) == 1
    assert Router([local(batching)]).batch_limit(replace(DRAFT, mode=None)) == 6


def test_a_router_splits_a_batch_into_passes_as_its_local_engine_would() -> None:
    batching = BatchingEngine(share_pass_by=lambda id: id >= 10)
    with_cloud = Router([local(batching), cloud(ScriptedEngine())], config=NO_RETRY)
    samples = [16 * id for id in (1, 11, 2)]

    assert with_cloud.batch_groups(samples, DRAFT) == [[0, 2], [1]]
    auto = replace(DRAFT, mode=SttMode.AUTO)
    assert with_cloud.batch_groups(samples, auto) == [[0], [1], [2]]


def test_a_local_batch_is_one_call_on_the_first_local_tier() -> None:
    batching = BatchingEngine(delay_s=0.0)
    router = Router([local(batching), cloud(ScriptedEngine.saying("cloud"))], config=NO_RETRY)

    transcripts = run(router.transcribe_batch([audio(1), audio(2), audio(3)], DRAFT))

    assert batching.runs == [[1, 2, 3]]
    assert [t.text for t in transcripts] == ["text 1", "text 2", "text 3"]
    assert all(t.metadata.provider == "local" and t.metadata.fallback is None for t in transcripts)


def test_a_failing_local_batch_falls_back_to_the_next_local_tier_one_by_one() -> None:
    broken = BatchingEngine(delay_s=0.0, fail_with=EngineError("gpu lost"))
    cpu = ScriptedEngine.saying("from the cpu")
    router = Router(
        [local(broken, "local:gpu"), local(cpu), cloud(ScriptedEngine())], config=NO_RETRY
    )

    transcripts = run(router.transcribe_batch([audio(1), audio(2)], DRAFT))

    assert broken.runs == [[1, 2]]
    assert [round(c.duration_s * 1000) for c in cpu.calls] == [1, 2]
    assert [t.text for t in transcripts] == ["from the cpu", "from the cpu"]
    for transcript in transcripts:
        assert transcript.metadata.provider == "local"
        assert transcript.metadata.fallback is not None
        assert [f.from_tier for f in transcript.metadata.fallback] == ["local:gpu"]


def test_a_batch_no_local_tier_answers_fails_as_one_call_would() -> None:
    broken = BatchingEngine(delay_s=0.0, fail_with=EngineError("local broke"))
    router = Router([local(broken), cloud(ScriptedEngine())], config=NO_RETRY)

    with pytest.raises(EngineError, match="local broke"):
        run(router.transcribe_batch([audio(1), audio(2)], DRAFT))
    with pytest.raises(ProviderUnavailableError):
        run(Router([cloud(ScriptedEngine())]).transcribe_batch([audio(1)], DRAFT))


def test_a_batch_that_may_reach_the_cloud_goes_as_one_routed_call_each() -> None:
    batching = BatchingEngine(delay_s=0.0, fail_with=EngineError("local broke"))
    remote = ScriptedEngine([Step(text="cloud")])
    router = Router([local(batching), cloud(remote)], config=NO_RETRY)

    transcripts = run(router.transcribe_batch([audio(1), audio(2)], replace(DRAFT, mode=None)))

    assert batching.runs == [[1], [2]]  # one by one, each falling back on its own
    assert [t.text for t in transcripts] == ["cloud", "cloud"]
    assert all(t.metadata.provider == "cloud" for t in transcripts)


def test_the_scheduler_batches_drafts_through_a_router() -> None:
    batching = BatchingEngine(delay_s=0.05)
    router = Router([local(batching), cloud(ScriptedEngine())], config=NO_RETRY)

    def draft(id: int, session: str) -> DecodeRequest:
        return DecodeRequest(
            id=id,
            session_id=session,
            utterance_id=1,
            kind=DecodeKind.DRAFT,
            audio=audio(id),
            start_sample=0,
            end_sample=16 * id,
            options=DRAFT,
        )

    async def scenario() -> list[str]:
        scheduler = ModelScheduler(router, workers=1)
        busy = scheduler.submit(draft(1, "a"))
        await asyncio.sleep(0.01)
        queued = [scheduler.submit(draft(2, "b")), scheduler.submit(draft(3, "c"))]
        results = await asyncio.gather(busy, *queued)
        await scheduler.aclose()
        return [r.transcript.text if r.transcript else "" for r in results]

    assert run(scenario()) == ["text 1", "text 2", "text 3"]
    assert batching.runs == [[1], [2, 3]]
