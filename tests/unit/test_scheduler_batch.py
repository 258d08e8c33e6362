"""Drafts of several live streams as one batched engine call (DESIGN.md §3 "Scheduling across
sessions"): who joins a batch, that results fan out to each request, that errors reach every
request, and that finals and confirmations never wait for a batch.

As in ``test_scheduler.py``, each request's audio is ``id`` ms long, so the engine can tell
which request it runs (:class:`tests.batch_kit.BatchingEngine` answers ``"text <id>"``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np
import pytest

from echoic.engines.base import BatchEngine
from echoic.engines.scripted import ScriptedEngine
from echoic.errors import EchoicError, EngineError, EngineTimeoutError, SupersededError
from echoic.streaming.batching import final_share
from echoic.streaming.decoding import DecodeKind, DecodeRequest, DecodeResult
from echoic.streaming.scheduler import ModelScheduler
from echoic.streaming.schedulers import Schedulers
from echoic.types import TranscribeOptions
from tests.batch_kit import BatchingEngine
from tests.stream_kit import run_async

T = TypeVar("T")
DRAFT_OPTIONS = TranscribeOptions(beam_size=1, encoder_pad_s=2.0)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return run_async(coroutine, timeout_s=5.0)


def request(
    id: int,
    session: str,
    kind: DecodeKind = DecodeKind.DRAFT,
    options: TranscribeOptions = DRAFT_OPTIONS,
) -> DecodeRequest:
    return DecodeRequest(
        id=id,
        session_id=session,
        utterance_id=1,
        kind=kind,
        audio=np.zeros(16 * id, dtype=np.float32),
        start_sample=0,
        end_sample=16 * id,
        options=options,
    )


def texts(results: Sequence[DecodeResult]) -> list[str | None]:
    return [None if r.transcript is None else r.transcript.text for r in results]


def test_the_fake_and_the_faster_whisper_engine_batch_and_the_scripted_one_does_not() -> None:
    from echoic.engines.faster_whisper import FasterWhisperEngine

    assert isinstance(BatchingEngine(), BatchEngine)
    assert not isinstance(ScriptedEngine(), BatchEngine)
    assert hasattr(FasterWhisperEngine, "transcribe_batch")
    assert hasattr(FasterWhisperEngine, "batch_limit")


def test_drafts_queued_while_the_worker_is_busy_run_as_one_call_and_fan_out() -> None:
    async def scenario() -> tuple[list[list[int]], list[DecodeResult], ModelScheduler]:
        engine = BatchingEngine()
        scheduler = ModelScheduler(engine, workers=1)
        first = scheduler.submit(request(1, "a"))
        await asyncio.sleep(0.01)  # draft 1 runs alone: nothing else was queued
        queued = [scheduler.submit(request(i, s)) for i, s in ((2, "b"), (3, "c"), (4, "d"))]
        results = await asyncio.gather(first, *queued)
        await scheduler.aclose()
        return engine.runs, results, scheduler

    runs, results, scheduler = run(scenario())

    assert runs == [[1], [2, 3, 4]]
    assert [r.request_id for r in results] == [1, 2, 3, 4]
    assert texts(results) == ["text 1", "text 2", "text 3", "text 4"]  # each its own
    assert all(r.error is None for r in results)
    batch = results[1:]
    assert len({(r.started_at, r.finished_at) for r in batch}) == 1  # one call
    stats = scheduler.stats
    assert (stats.decodes, stats.drafts, stats.finals) == (4, 4, 0)  # each request counts
    assert (stats.batches, stats.batched) == (1, 3)


def test_finals_and_confirmations_run_alone_and_first_then_the_drafts_together() -> None:
    async def scenario() -> list[list[int]]:
        engine = BatchingEngine()
        scheduler = ModelScheduler(engine, workers=1)
        busy = scheduler.submit(request(1, "a"))
        await asyncio.sleep(0.01)
        futures = [
            scheduler.submit(request(2, "b")),
            scheduler.submit(request(3, "c", DecodeKind.CONFIRM)),
            scheduler.submit(request(4, "a", DecodeKind.FINAL)),
            scheduler.submit(request(5, "d")),
            scheduler.submit(request(6, "b", DecodeKind.FINAL)),
            scheduler.submit(request(7, "c")),
        ]
        await asyncio.gather(busy, *futures)
        await scheduler.aclose()
        return engine.runs

    assert run(scenario()) == [[1], [4], [6], [3], [2, 5, 7]]


def test_a_final_never_waits_for_a_batch_to_form() -> None:
    async def scenario() -> tuple[float, float, list[list[int]]]:
        engine = BatchingEngine(delay_s=0.2)
        scheduler = ModelScheduler(engine, workers=2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        draft = scheduler.submit(request(1, "a"))  # a lone draft starts at once, alone
        await asyncio.sleep(0.01)
        final = scheduler.submit(request(2, "b", DecodeKind.FINAL))
        await final
        final_s = loop.time() - started
        drafted = await draft
        await scheduler.aclose()
        return final_s, drafted.finished_at - drafted.started_at, engine.runs

    final_s, draft_s, runs = run(scenario())

    assert runs == [[1], [2]]
    assert final_s < 0.3  # on the free worker at once: not after the draft (0.2 s) and itself
    assert draft_s < 0.3


def test_max_batch_caps_a_batch_and_the_oldest_sessions_go_first() -> None:
    async def scenario() -> list[list[int]]:
        engine = BatchingEngine()
        scheduler = ModelScheduler(engine, workers=1, max_batch=3)
        busy = scheduler.submit(request(1, "a"))
        await asyncio.sleep(0.01)
        queued = [scheduler.submit(request(10 + i, f"s{i}")) for i in range(7)]
        await asyncio.gather(busy, *queued)
        await scheduler.aclose()
        return engine.runs

    assert run(scenario()) == [[1], [10, 11, 12], [13, 14, 15], [16]]


def test_a_batch_is_one_forward_pass_and_drafts_of_other_lengths_keep_their_turn() -> None:
    """The engine says which windows share a pass (here: ids from 10 up are "long"); the head's
    pass goes now, the others next, each answered as soon as its own pass is done."""

    async def scenario() -> list[list[int]]:
        engine = BatchingEngine(share_pass_by=lambda id: id >= 10)
        scheduler = ModelScheduler(engine, workers=1)
        busy = scheduler.submit(request(1, "a"))
        await asyncio.sleep(0.01)
        queued = [
            scheduler.submit(request(id, session))
            for id, session in ((2, "b"), (11, "c"), (3, "d"), (12, "e"), (4, "f"))
        ]
        await asyncio.gather(busy, *queued)
        await scheduler.aclose()
        return engine.runs

    assert run(scenario()) == [[1], [2, 3, 4], [11, 12]]


@pytest.mark.parametrize(
    ("engine", "max_batch"),
    [(BatchingEngine(delay_s=0.02), 1), (ScriptedEngine.saying("x", delay_s=0.02), 8)],
    ids=["max_batch 1", "engine without batches"],
)
def test_without_batching_every_draft_is_its_own_call(
    engine: ScriptedEngine, max_batch: int
) -> None:
    async def scenario() -> ModelScheduler:
        scheduler = ModelScheduler(engine, workers=1, max_batch=max_batch)
        results = await asyncio.gather(
            *(scheduler.submit(request(i, f"s{i}")) for i in range(1, 5))
        )
        assert all(r.transcript is not None for r in results)
        await scheduler.aclose()
        return scheduler

    scheduler = run(scenario())

    if isinstance(engine, BatchingEngine):
        assert engine.runs == [[1], [2], [3], [4]]
    else:
        assert [round(c.duration_s * 1000) for c in engine.calls] == [1, 2, 3, 4]
    assert (scheduler.stats.batches, scheduler.stats.batched, scheduler.stats.drafts) == (0, 0, 4)


def test_only_drafts_with_the_same_options_share_a_call_and_the_engine_limit_holds() -> None:
    french = replace(DRAFT_OPTIONS, language="fr")
    timed = replace(DRAFT_OPTIONS, encoder_pad_s=None)  # this engine's limit for it: 1

    async def scenario() -> list[list[int]]:
        engine = BatchingEngine()
        scheduler = ModelScheduler(engine, workers=1)
        busy = scheduler.submit(request(1, "a"))
        await asyncio.sleep(0.01)
        queued = [
            scheduler.submit(request(2, "b")),
            scheduler.submit(request(3, "c", options=french)),
            scheduler.submit(request(4, "d")),
            scheduler.submit(request(5, "e", options=french)),
            scheduler.submit(request(6, "f", options=timed)),
            scheduler.submit(request(7, "g", options=timed)),
        ]
        await asyncio.gather(busy, *queued)
        await scheduler.aclose()
        return engine.runs

    assert run(scenario()) == [[1], [2, 4], [3, 5], [6], [7]]


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (EngineTimeoutError("too slow"), EngineTimeoutError),
        (RuntimeError("CTranslate2 blew up"), EngineError),
    ],
    ids=["echoic error", "engine bug"],
)
def test_a_failing_batch_answers_every_request_with_the_error(
    raised: Exception, expected: type[EchoicError]
) -> None:
    async def scenario() -> tuple[list[DecodeResult], DecodeResult, ModelScheduler]:
        engine = BatchingEngine()
        scheduler = ModelScheduler(engine, workers=1)
        busy = scheduler.submit(request(1, "a"))
        await asyncio.sleep(0.01)
        engine.fail_with = raised
        batch = await asyncio.gather(*(scheduler.submit(request(i, f"s{i}")) for i in (2, 3, 4)))
        engine.fail_with = None  # the worker lives on: the next call answers
        after = await scheduler.submit(request(5, "a"))
        await busy
        await scheduler.aclose()
        return batch, after, scheduler

    batch, after, scheduler = run(scenario())

    assert [r.request_id for r in batch] == [2, 3, 4]
    for result in batch:
        assert result.transcript is None
        assert isinstance(result.error, expected)
    assert texts([after]) == ["text 5"]
    assert scheduler.stats.decodes == 5


def test_a_superseded_or_cancelled_draft_does_not_join_the_batch() -> None:
    async def scenario() -> tuple[list[list[int]], list[DecodeResult], asyncio.Future[Any]]:
        engine = BatchingEngine()
        scheduler = ModelScheduler(engine, workers=1)
        busy = scheduler.submit(request(1, "a"))
        await asyncio.sleep(0.01)
        old = scheduler.submit(request(2, "b"))
        cancelled = scheduler.submit(request(3, "c"))
        newer = scheduler.submit(request(4, "b"))  # replaces b's queued draft
        other = scheduler.submit(request(5, "d"))
        assert scheduler.cancel("c", 3)
        results = await asyncio.gather(busy, old, newer, other)
        await scheduler.aclose()
        return engine.runs, list(results), cancelled

    runs, results, cancelled = run(scenario())

    assert runs == [[1], [4, 5]]
    assert isinstance(results[1].error, SupersededError)
    assert texts(results) == ["text 1", None, "text 4", "text 5"]
    assert cancelled.cancelled()


def test_aclose_during_a_batch_cancels_every_request_in_it() -> None:
    async def scenario() -> tuple[list[list[int]], list[asyncio.Future[DecodeResult]]]:
        engine = BatchingEngine(delay_s=0.05)
        scheduler = ModelScheduler(engine, workers=1)
        busy = scheduler.submit(request(1, "a"))
        await asyncio.sleep(0.01)
        batch = [scheduler.submit(request(i, f"s{i}")) for i in (2, 3)]
        engine.delay_s = 10.0  # the batch, taken once draft 1 is done, never finishes
        await busy
        await asyncio.sleep(0.01)
        await scheduler.aclose()
        return engine.runs, batch

    runs, batch = run(scenario())

    assert runs == [[1], [2, 3]]
    assert all(f.cancelled() for f in batch)  # nobody awaiting them is left waiting


def test_every_request_of_a_batch_reports_its_wait() -> None:
    async def scenario() -> list[tuple[DecodeKind, float]]:
        waits: list[tuple[DecodeKind, float]] = []
        engine = BatchingEngine()
        scheduler = ModelScheduler(engine, workers=1, on_wait=lambda k, s: waits.append((k, s)))
        busy = scheduler.submit(request(1, "a"))
        await asyncio.sleep(0.01)
        await asyncio.gather(busy, *(scheduler.submit(request(i, f"s{i}")) for i in (2, 3, 4)))
        await scheduler.aclose()
        return waits

    waits = run(scenario())

    assert [kind for kind, _ in waits] == [DecodeKind.DRAFT] * 4
    assert all(seconds >= 0.03 for _, seconds in waits[1:])  # they queued behind draft 1


def test_schedulers_of_pass_max_batch_on() -> None:
    engine = BatchingEngine()
    assert Schedulers.of(engine).draft.max_batch == 8
    assert Schedulers.of(engine, max_batch=1).draft.max_batch == 1
    dual = Schedulers.of(engine, BatchingEngine(), max_batch=4)
    assert (dual.draft.max_batch, dual.confirm.max_batch) == (4, 4)
    with pytest.raises(ValueError, match="max_batch"):
        ModelScheduler(engine, max_batch=0)


def test_the_hub_gives_every_models_scheduler_its_max_batch() -> None:
    from echoic.streaming.hub import StreamHub

    engines = {"tiny.en": BatchingEngine(), "base": BatchingEngine()}
    hub = StreamHub(engines.__getitem__, max_batch=3)
    schedulers = hub.schedulers("tiny.en", "base")
    assert (schedulers.draft.max_batch, schedulers.confirm.max_batch) == (3, 3)
    assert StreamHub(engines.__getitem__).schedulers("tiny.en").draft.max_batch == 8


FINAL_OPTIONS = TranscribeOptions(beam_size=5, encoder_pad_s=5.0, word_timestamps=True)


def final(id: int, session: str, options: TranscribeOptions = FINAL_OPTIONS) -> DecodeRequest:
    return request(id, session, DecodeKind.FINAL, options)


def test_finals_queued_together_run_as_one_call_before_the_drafts() -> None:
    async def scenario() -> list[list[int]]:
        engine = BatchingEngine()
        scheduler = ModelScheduler(engine, workers=1, max_final_batch=4)
        busy = scheduler.submit(request(1, "a"))
        await asyncio.sleep(0.01)
        futures = [
            scheduler.submit(request(2, "b")),
            *(scheduler.submit(final(i, s)) for i, s in ((3, "a"), (4, "c"), (5, "d"))),
            scheduler.submit(final(6, "e", replace(FINAL_OPTIONS, language="de"))),
        ]
        results = await asyncio.gather(busy, *futures)
        assert texts(results) == [f"text {i}" for i in range(1, 7)]  # each its own answer
        await scheduler.aclose()
        return engine.runs

    # Other options (another language) do not share the pass; the draft waits for the finals.
    assert run(scenario()) == [[1], [3, 4, 5], [6], [2]]


def test_the_workers_split_the_queued_finals_between_them() -> None:
    async def scenario() -> list[list[int]]:
        engine = BatchingEngine(delay_s=0.05)
        scheduler = ModelScheduler(engine, workers=2, max_final_batch=8)
        busy = [scheduler.submit(request(1, "a")), scheduler.submit(request(2, "b"))]
        await asyncio.sleep(0.01)  # both workers busy with a draft
        finals = [scheduler.submit(final(i, f"s{i}")) for i in range(3, 9)]
        await asyncio.gather(*busy, *finals)
        await scheduler.aclose()
        return engine.runs

    runs = run(scenario())

    # Drafts 1 and 2 share one call; the idle worker and then the freed one take half each.
    assert runs == [[1, 2], [3, 4, 5], [6, 7, 8]]


def test_max_final_batch_caps_the_finals_one_call_runs() -> None:
    async def scenario() -> list[list[int]]:
        engine = BatchingEngine()
        scheduler = ModelScheduler(engine, workers=1, max_final_batch=2)
        busy = scheduler.submit(request(1, "a"))
        await asyncio.sleep(0.01)
        finals = [scheduler.submit(final(i, f"s{i}")) for i in (2, 3, 4, 5, 6)]
        await asyncio.gather(busy, *finals)
        await scheduler.aclose()
        return engine.runs

    assert run(scenario()) == [[1], [2, 3], [4, 5], [6]]


def test_final_batch_reaches_every_scheduler() -> None:
    from echoic.streaming.hub import StreamHub

    engine = BatchingEngine()
    assert Schedulers.of(engine).draft.max_final_batch == 1  # one by one unless asked
    dual = Schedulers.of(engine, BatchingEngine(), final_batch=4)
    assert (dual.draft.max_final_batch, dual.confirm.max_final_batch) == (4, 4)
    engines = {"tiny.en": BatchingEngine()}
    hub = StreamHub(engines.__getitem__, final_batch=3)
    assert hub.schedulers("tiny.en").confirm.max_final_batch == 3
    with pytest.raises(ValueError, match="max_final_batch"):
        ModelScheduler(engine, max_final_batch=0)


@pytest.mark.parametrize(
    ("queued", "workers", "on_finals", "share"),
    [
        (5, 2, 0, 3),  # six finals, both workers free soon: three each
        (2, 2, 1, 3),  # the other worker is on finals already: all three
        (0, 2, 0, 1),
        (11, 2, 0, 6),
        (7, 1, 0, 8),
        (3, 2, 5, 4),  # never fewer than one free worker
    ],
)
def test_a_worker_takes_its_share_of_the_queued_finals(
    queued: int, workers: int, on_finals: int, share: int
) -> None:
    assert final_share(queued, workers, on_finals) == share
