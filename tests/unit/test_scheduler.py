"""One model shared by every live stream: ordering, coalescing, cancellation and shutdown.

Each request's audio is ``id`` ms long, so ``engine.calls`` tells which request ran, in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pytest

from echoic.engines.base import Capabilities, ProgressCallback
from echoic.engines.scripted import ScriptedEngine, Step
from echoic.errors import EngineError, EngineTimeoutError, SupersededError
from echoic.streaming.decoding import DecodeKind, DecodeRequest, DecodeResult
from echoic.streaming.scheduler import ModelScheduler
from echoic.types import Audio, TranscribeOptions, Transcript
from tests.stream_kit import run_async

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return run_async(coroutine, timeout_s=5.0)


def request(id: int, session: str, kind: DecodeKind = DecodeKind.DRAFT) -> DecodeRequest:
    return DecodeRequest(
        id=id,
        session_id=session,
        utterance_id=1,
        kind=kind,
        audio=np.zeros(16 * id, dtype=np.float32),
        start_sample=0,
        end_sample=16 * id,
        options=TranscribeOptions(beam_size=1 if kind is DecodeKind.DRAFT else 5),
    )


def final(id: int, session: str) -> DecodeRequest:
    return request(id, session, DecodeKind.FINAL)


def ran(engine: ScriptedEngine) -> list[int]:
    """The request ids the engine ran, in the order it ran them."""
    return [round(call.duration_s * 1000) for call in engine.calls]


def test_finals_run_before_queued_drafts() -> None:
    async def scenario() -> list[DecodeResult]:
        engine = ScriptedEngine.saying("text", delay_s=0.01)
        scheduler = ModelScheduler(engine)
        futures = [
            scheduler.submit(request(1, "a")),
            scheduler.submit(request(2, "b")),
            scheduler.submit(final(3, "c")),
            scheduler.submit(final(4, "a")),
        ]
        assert scheduler.depth == 4
        results = list(await asyncio.gather(*futures))
        assert ran(engine) == [3, 4, 1, 2]  # finals first-come first-served, then drafts
        assert (scheduler.stats.finals, scheduler.stats.drafts) == (2, 2)
        await scheduler.aclose()
        return results

    results = run(scenario())

    assert [r.request_id for r in results] == [1, 2, 3, 4]
    for result in results:
        assert result.transcript is not None
        assert result.transcript.text == "text"
        assert result.error is None
        assert result.finished_at >= result.started_at


def test_a_final_submitted_while_a_draft_runs_jumps_the_draft_queue() -> None:
    async def scenario() -> list[int]:
        engine = ScriptedEngine.saying("x", delay_s=0.02)
        scheduler = ModelScheduler(engine)
        first = scheduler.submit(request(1, "a"))
        await asyncio.sleep(0.005)  # draft 1 is running
        rest = [scheduler.submit(request(2, "b")), scheduler.submit(final(3, "a"))]
        await asyncio.gather(first, *rest)
        await scheduler.aclose()
        return ran(engine)

    assert run(scenario()) == [1, 3, 2]


def test_with_two_workers_a_final_starts_at_once_beside_a_running_draft() -> None:
    async def scenario() -> tuple[list[int], float]:
        engine = ScriptedEngine.saying("x", delay_s=0.2)
        scheduler = ModelScheduler(engine, workers=2)
        draft = scheduler.submit(request(1, "a"))
        await asyncio.sleep(0.01)  # draft 1 runs on one worker
        queued = [scheduler.submit(request(2, "b")), scheduler.submit(final(3, "a"))]
        await asyncio.sleep(0.01)
        running = ran(engine)
        await asyncio.gather(draft, *queued)
        await scheduler.aclose()
        return running, engine.calls[2].started_at - engine.calls[1].started_at

    running, draft_waited = run(scenario())

    assert running == [1, 3]  # the final took the free worker; the draft queued behind it
    assert draft_waited >= 0.15  # draft 2 waited for a free worker: never more than 2 at once


def test_workers_default_to_the_engines_parallel_calls() -> None:
    class Parallel(ScriptedEngine):
        @property
        def capabilities(self) -> Capabilities:
            return Capabilities(parallel_calls=3)

    assert ModelScheduler(ScriptedEngine()).workers == 1
    assert ModelScheduler(Parallel()).workers == 3
    assert ModelScheduler(Parallel(), workers=1).workers == 1


def test_drafts_rotate_fairly_across_sessions() -> None:
    async def scenario() -> list[int]:
        engine = ScriptedEngine.saying("x", delay_s=0.01)
        scheduler = ModelScheduler(engine)
        a1 = scheduler.submit(request(1, "a"))
        b1 = scheduler.submit(request(2, "b"))
        c1 = scheduler.submit(request(3, "c"))
        await a1  # session a's next draft queues behind b's and c's, not ahead of them
        a2 = scheduler.submit(request(4, "a"))
        await b1
        b2 = scheduler.submit(request(5, "b"))
        await asyncio.gather(c1, a2, b2)
        await scheduler.aclose()
        return ran(engine)

    assert run(scenario()) == [1, 2, 3, 4, 5]


def test_a_newer_draft_supersedes_the_queued_one() -> None:
    async def scenario() -> tuple[DecodeResult, DecodeResult, list[int], int]:
        engine = ScriptedEngine.saying("x", delay_s=0.01)
        scheduler = ModelScheduler(engine)
        older = scheduler.submit(request(1, "a"))
        newer = scheduler.submit(request(2, "a"))
        assert older.done()  # answered at once: nobody waits for a draft that will never run
        results = await asyncio.gather(older, newer)
        await scheduler.aclose()
        return results[0], results[1], ran(engine), scheduler.stats.superseded

    older, newer, calls, superseded = run(scenario())

    assert isinstance(older.error, SupersededError)
    assert (older.request_id, older.transcript, older.error.code) == (1, None, "superseded")
    assert newer.transcript is not None
    assert newer.request_id == 2
    assert (calls, superseded) == ([2], 1)


def test_past_max_queued_drafts_the_oldest_draft_is_superseded() -> None:
    async def scenario() -> tuple[list[DecodeResult], list[int]]:
        engine = ScriptedEngine.saying("x")
        scheduler = ModelScheduler(engine, max_queued_drafts=2)
        futures = [scheduler.submit(request(i, f"s{i}")) for i in (1, 2, 3)]
        futures.append(scheduler.submit(final(4, "s1")))  # finals are never dropped
        results = list(await asyncio.gather(*futures))
        await scheduler.aclose()
        return results, ran(engine)

    results, calls = run(scenario())

    assert [type(r.error) for r in results] == [SupersededError, type(None), type(None), type(None)]
    assert calls == [4, 2, 3]


def test_cancel_drops_a_queued_request_but_not_a_running_one() -> None:
    async def scenario() -> None:
        engine = ScriptedEngine.saying("x", delay_s=0.02)
        scheduler = ModelScheduler(engine)
        running = scheduler.submit(final(1, "a"))
        queued_final = scheduler.submit(final(2, "a"))
        queued_draft = scheduler.submit(request(3, "b"))
        await asyncio.sleep(0.005)  # request 1 is running

        assert not scheduler.cancel("b", 2)  # window ids are per stream: b's 2 is not a's
        assert scheduler.cancel("a", 2)
        assert scheduler.cancel("b", 3)
        assert not scheduler.cancel("a", 1)
        assert not scheduler.cancel("a", 99)
        assert queued_final.cancelled()
        assert queued_draft.cancelled()
        assert scheduler.depth == 0

        result = await running
        assert result.transcript is not None
        after = await scheduler.submit(request(4, "b"))
        assert after.transcript is not None
        assert ran(engine) == [1, 4]
        await scheduler.aclose()

    run(scenario())


@dataclass
class BuggyEngine(ScriptedEngine):
    """Raises a non-echoic exception on its first call, as a backend bug would."""

    failures: int = 1

    async def transcribe(
        self,
        audio: Audio,
        options: TranscribeOptions,
        *,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        if self.failures:
            self.failures -= 1
            raise ZeroDivisionError("division by zero in the decoder")
        return await super().transcribe(audio, options, progress=progress)


def test_an_engine_bug_becomes_an_engine_error_and_the_worker_lives_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> tuple[DecodeResult, DecodeResult]:
        scheduler = ModelScheduler(BuggyEngine(steps=[Step(text="fine")]))
        broken = await scheduler.submit(final(1, "a"))
        fine = await scheduler.submit(final(2, "a"))
        await scheduler.aclose()
        return broken, fine

    broken, fine = run(scenario())

    assert isinstance(broken.error, EngineError)
    assert broken.error.code == "engine_error"
    assert "division by zero" in broken.error.message
    assert fine.transcript is not None
    assert fine.transcript.text == "fine"
    assert "engine scripted:scripted failed on request 1" in caplog.text


def test_an_echoic_error_is_passed_through() -> None:
    async def scenario() -> DecodeResult:
        engine = ScriptedEngine(steps=[Step(error=EngineTimeoutError("slow disk"))])
        scheduler = ModelScheduler(engine)
        result = await scheduler.submit(final(1, "a"))
        await scheduler.aclose()
        return result

    result = run(scenario())

    assert isinstance(result.error, EngineTimeoutError)
    assert result.error.message == "slow disk"


def test_aclose_cancels_everything_and_leaves_no_task() -> None:
    async def scenario() -> None:
        baseline = asyncio.all_tasks()
        engine = ScriptedEngine.saying("x", delay_s=10.0)
        scheduler = ModelScheduler(engine)
        running = scheduler.submit(final(1, "a"))
        queued = [scheduler.submit(final(2, "b")), scheduler.submit(request(3, "c"))]
        await asyncio.sleep(0.01)
        assert len(engine.calls) == 1

        await scheduler.aclose()

        assert running.cancelled()  # the caller of the running decode is not left waiting
        assert all(f.cancelled() for f in queued)
        assert (scheduler.depth, asyncio.all_tasks()) == (0, baseline)

    run(scenario())
