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
from echoic.engines.scripted import Call, ScriptedEngine, Step
from echoic.errors import EngineError, EngineTimeoutError, SupersededError
from echoic.streaming.decoding import DecodeKind, DecodeRequest, DecodeResult
from echoic.streaming.scheduler import ComputeSlots, ModelScheduler
from echoic.streaming.schedulers import Schedulers
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


def confirm(id: int, session: str) -> DecodeRequest:
    return request(id, session, DecodeKind.CONFIRM)


def ran_id(call: Call) -> int:
    """The id of the request a call ran (its audio is ``id`` ms long)."""
    return round(call.duration_s * 1000)


def ran(engine: ScriptedEngine) -> list[int]:
    """The request ids the engine ran, in the order it ran them."""
    return [ran_id(call) for call in engine.calls]


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


def test_finals_then_confirmations_then_drafts_and_a_draft_never_supersedes_a_confirmation() -> (
    None
):
    async def scenario() -> tuple[list[int], list[DecodeResult]]:
        engine = ScriptedEngine.saying("x", delay_s=0.01)
        scheduler = ModelScheduler(engine)
        futures = [
            scheduler.submit(request(1, "a")),
            scheduler.submit(confirm(2, "a")),
            scheduler.submit(request(3, "a")),  # supersedes draft 1, not confirmation 2
            scheduler.submit(confirm(4, "b")),
            scheduler.submit(final(5, "b")),
            scheduler.submit(confirm(6, "b")),  # supersedes confirmation 4
        ]
        results = list(await asyncio.gather(*futures))
        await scheduler.aclose()
        return ran(engine), results

    order, results = run(scenario())

    assert order == [5, 2, 6, 3]
    superseded = [r.request_id for r in results if isinstance(r.error, SupersededError)]
    assert superseded == [1, 4]


def test_two_models_share_the_compute_slots_and_a_final_gets_the_next_free_one() -> None:
    async def scenario() -> tuple[list[int], list[int], int]:
        fast = ScriptedEngine.saying("draft", delay_s=0.05)
        heavy = ScriptedEngine.saying("final", delay_s=0.05)
        slots = ComputeSlots(1)
        drafts = ModelScheduler(fast, workers=2, slots=slots)
        finals = ModelScheduler(heavy, workers=2, slots=slots)
        peak = 0

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, slots.busy)
                await asyncio.sleep(0.002)

        watcher = asyncio.create_task(watch())
        first = drafts.submit(request(1, "a"))
        await asyncio.sleep(0.01)  # draft 1 holds the only slot
        queued = [
            drafts.submit(request(2, "b")),
            drafts.submit(request(3, "c")),
            finals.submit(final(4, "a")),
        ]
        await asyncio.gather(first, *queued)
        watcher.cancel()
        order = sorted(
            [(c.started_at, 1, c) for c in fast.calls]
            + [(c.started_at, 2, c) for c in heavy.calls],
            key=lambda item: item[0],
        )
        await drafts.aclose()
        await finals.aclose()
        return [ran_id(c) for _, _, c in order], [m for _, m, _ in order], peak

    ids, models, peak = run(scenario())

    assert ids == [1, 4, 2, 3]  # the heavy model's final went before the queued drafts
    assert models == [1, 2, 1, 1]
    assert peak == 1  # never two decodes at once, whatever the workers


def test_schedulers_of_two_engines_share_slots_sized_by_the_drafting_engine() -> None:
    class Parallel(ScriptedEngine):
        @property
        def capabilities(self) -> Capabilities:
            return Capabilities(parallel_calls=2)

    fast, heavy = Parallel(), Parallel()
    pair = Schedulers.of(fast, heavy)
    assert pair.dual
    assert pair.draft.slots is pair.confirm.slots
    assert pair.draft.slots is not None
    assert pair.draft.slots.capacity == 2
    itself = Schedulers.of(fast, fast)
    assert not itself.dual
    assert itself.draft.workers == 2


def test_compute_slots_hand_over_by_priority_and_forget_cancelled_waiters() -> None:
    async def scenario() -> list[str]:
        slots = ComputeSlots(1)
        order: list[str] = []

        async def use(name: str, priority: int) -> None:
            async with slots.hold(lambda: priority):
                order.append(name)
                await asyncio.sleep(0.01)

        holder = asyncio.create_task(use("first", 2))
        await asyncio.sleep(0.001)
        waiting = [
            asyncio.create_task(use("draft", 2)),
            asyncio.create_task(use("gone", 0)),
            asyncio.create_task(use("confirm", 1)),
            asyncio.create_task(use("final", 0)),
        ]
        await asyncio.sleep(0.001)
        assert slots.waiting == 4
        waiting[1].cancel()
        await asyncio.sleep(0)
        assert slots.waiting == 3
        await asyncio.gather(holder, waiting[0], waiting[2], waiting[3])
        assert (slots.busy, slots.waiting) == (0, 0)
        return order

    assert run(scenario()) == ["first", "final", "confirm", "draft"]
    with pytest.raises(ValueError, match="capacity"):
        ComputeSlots(0)


def test_every_decode_reports_how_long_it_waited() -> None:
    async def scenario() -> list[tuple[DecodeKind, float]]:
        waits: list[tuple[DecodeKind, float]] = []
        engine = ScriptedEngine.saying("x", delay_s=0.05)
        scheduler = ModelScheduler(engine, on_wait=lambda kind, s: waits.append((kind, s)))
        await asyncio.gather(scheduler.submit(final(1, "a")), scheduler.submit(request(2, "a")))
        await scheduler.aclose()
        return waits

    (first, first_wait), (second, second_wait) = run(scenario())

    assert (first, second) == (DecodeKind.FINAL, DecodeKind.DRAFT)
    assert first_wait < 0.04
    assert second_wait >= 0.04  # queued behind the final's 50 ms


def test_a_waiter_cancelled_just_before_a_release_leaves_the_slots_consistent() -> None:
    async def scenario() -> tuple[BaseException | None, int, int]:
        slots = ComputeSlots(1)
        held = slots.hold(lambda: 0)
        await held.__aenter__()

        async def wait_for_a_slot() -> None:
            async with slots.hold(lambda: 1):
                raise AssertionError("never runs: cancelled while waiting")

        waiter = asyncio.create_task(wait_for_a_slot())
        await asyncio.sleep(0)
        assert slots.waiting == 1
        waiter.cancel()  # its future is cancelled now; the task has not resumed yet
        await held.__aexit__(None, None, None)  # the release pops and skips the cancelled waiter
        [outcome] = await asyncio.gather(waiter, return_exceptions=True)
        return outcome, slots.busy, slots.waiting

    outcome, busy, waiting = run(scenario())

    assert isinstance(outcome, asyncio.CancelledError)
    assert (busy, waiting) == (0, 0)


def test_a_final_arriving_while_its_worker_waits_at_draft_priority_goes_first() -> None:
    async def scenario() -> list[tuple[str, int]]:
        slots = ComputeSlots(1)
        x_engine = ScriptedEngine.saying("x", delay_s=0.03)
        y_engine = ScriptedEngine.saying("y", delay_s=0.03)
        x = ModelScheduler(x_engine, workers=1, slots=slots)
        y = ModelScheduler(y_engine, workers=2, slots=slots)
        futures = [y.submit(request(1, "a"))]
        await asyncio.sleep(0.005)  # y's draft 1 holds the only slot
        futures.append(y.submit(request(2, "b")))  # y's second worker waits at draft priority
        await asyncio.sleep(0.001)
        futures.append(x.submit(request(3, "c")))  # so does x's worker, after it
        await asyncio.sleep(0.005)
        futures.append(x.submit(final(4, "c")))  # x's waiting worker now has a final
        await asyncio.gather(*futures)
        await x.aclose()
        await y.aclose()
        calls = [("x", c) for c in x_engine.calls] + [("y", c) for c in y_engine.calls]
        calls.sort(key=lambda item: item[1].started_at)
        return [(model, ran_id(call)) for model, call in calls]

    assert run(scenario()) == [("y", 1), ("x", 4), ("y", 2), ("x", 3)]
