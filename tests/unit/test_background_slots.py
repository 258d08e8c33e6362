"""REST and job decodes share the live compute slots at background priority, one chunk call at
a time, from their inference threads (:meth:`ComputeSlots.background`, ``engines/gate.py``)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import numpy as np
import pytest

from echoic.engines.gate import ChunkGate, DecodeAbandoned, SlotTurn, chunk_slots
from echoic.engines.scripted import ScriptedEngine
from echoic.streaming.decoding import DecodeKind, DecodeRequest
from echoic.streaming.scheduler import (
    BACKGROUND,
    IDLE,
    PRIORITY,
    ComputeSlots,
    ModelScheduler,
)
from echoic.types import TranscribeOptions
from tests.stream_kit import run_async

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return run_async(coroutine, timeout_s=5.0)


def turn(slots: ComputeSlots) -> SlotTurn:
    """The slot turn a decode inside ``slots.background()`` takes."""
    with slots.background():
        current = chunk_slots.get()
    assert current is not None
    return current


def request(id: int, kind: DecodeKind) -> DecodeRequest:
    return DecodeRequest(
        id=id,
        session_id=f"s{id}",
        utterance_id=1,
        kind=kind,
        audio=np.zeros(16 * id, dtype=np.float32),
        start_sample=0,
        end_sample=16 * id,
        options=TranscribeOptions(beam_size=1),
    )


def test_background_comes_after_every_live_kind_and_before_an_idle_scheduler() -> None:
    assert max(PRIORITY.values()) < BACKGROUND
    assert IDLE > BACKGROUND


def test_the_background_context_is_set_only_inside_the_block() -> None:
    slots = ComputeSlots(1)
    assert chunk_slots.get() is None
    with slots.background():
        assert chunk_slots.get() is not None
    assert chunk_slots.get() is None


def test_a_background_waiter_gets_a_slot_only_after_queued_finals_and_drafts() -> None:
    async def scenario() -> list[str]:
        slots = ComputeSlots(1)
        background = turn(slots)
        order: list[str] = []

        async def live(name: str, priority: int) -> None:
            async with slots.hold(lambda: priority):
                order.append(name)
                await asyncio.sleep(0.01)

        async def chunk(name: str) -> None:
            await background.acquire()
            order.append(name)
            await asyncio.sleep(0.01)
            background.release()

        holder = asyncio.create_task(live("draft holding", PRIORITY[DecodeKind.DRAFT]))
        await asyncio.sleep(0.001)
        waiting = [asyncio.create_task(chunk("chunk 1"))]  # waited longest, yet goes last
        await asyncio.sleep(0.001)
        waiting.append(asyncio.create_task(live("draft", PRIORITY[DecodeKind.DRAFT])))
        waiting.append(asyncio.create_task(live("final", PRIORITY[DecodeKind.FINAL])))
        await asyncio.sleep(0.001)
        assert slots.waiting == 3
        await asyncio.gather(holder, *waiting)
        assert (slots.busy, slots.waiting) == (0, 0)
        return order

    assert run(scenario()) == ["draft holding", "final", "draft", "chunk 1"]


def test_a_background_waiter_is_not_starved_once_live_work_leaves_a_slot() -> None:
    async def scenario() -> tuple[list[str], int]:
        slots = ComputeSlots(1)
        engine = ScriptedEngine.saying("live", delay_s=0.02)
        scheduler = ModelScheduler(engine, workers=2, slots=slots)
        background = turn(slots)
        order: list[str] = []
        live = [scheduler.submit(request(1, DecodeKind.DRAFT))]
        await asyncio.sleep(0.005)  # the draft holds the only slot

        async def chunk() -> None:
            await background.acquire()
            order.append("chunk")
            background.release()

        waiting = asyncio.create_task(chunk())
        live.append(scheduler.submit(request(2, DecodeKind.FINAL)))
        for future in live:
            await future
            order.append("live")
        await asyncio.wait_for(waiting, 1.0)  # the scheduler is idle now: the chunk runs
        await scheduler.aclose()
        return order, slots.busy

    order, busy = run(scenario())

    assert order == ["live", "live", "chunk"]
    assert busy == 0


def test_chunk_calls_on_a_thread_hold_a_slot_each_and_let_a_final_in_between() -> None:
    async def scenario() -> tuple[list[str], int, int]:
        slots = ComputeSlots(1)
        gate = ChunkGate(turn(slots), asyncio.get_running_loop())
        order: list[str] = []

        def decode() -> None:  # a long file on its inference thread: two chunk calls
            for n in (1, 2):
                with gate.chunk():
                    order.append(f"chunk {n} starts")
                    time.sleep(0.03)
                    order.append(f"chunk {n} ends")

        thread = asyncio.create_task(asyncio.to_thread(decode))
        while slots.busy == 0:  # noqa: ASYNC110 - the thread's acquisition, no event to await
            await asyncio.sleep(0.001)  # chunk 1 holds the slot
        async with slots.hold(lambda: PRIORITY[DecodeKind.FINAL]):  # a final waits for it
            order.append("final")
            await asyncio.sleep(0.02)  # chunk 2 waits meanwhile
        await thread
        gate.close()
        return order, gate.stats.calls, slots.busy

    order, calls, busy = run(scenario())

    assert order == [
        "chunk 1 starts",
        "chunk 1 ends",
        "final",
        "chunk 2 starts",
        "chunk 2 ends",
    ]
    assert calls == 2
    assert busy == 0


def test_closing_the_gate_stops_a_waiting_thread_and_keeps_no_slot() -> None:
    async def scenario() -> tuple[BaseException | None, int, int, bool]:
        slots = ComputeSlots(1)
        gate = ChunkGate(turn(slots), asyncio.get_running_loop())
        ran = False

        def decode() -> None:
            nonlocal ran
            with gate.chunk():
                ran = True

        async with slots.hold(lambda: PRIORITY[DecodeKind.DRAFT]):
            thread = asyncio.create_task(asyncio.to_thread(decode))
            while slots.waiting == 0:  # noqa: ASYNC110 - as above
                await asyncio.sleep(0.001)
            gate.close()  # the caller went away while the chunk waited
            [outcome] = await asyncio.gather(thread, return_exceptions=True)
        return outcome, slots.busy, slots.waiting, ran

    outcome, busy, waiting, ran = run(scenario())

    assert isinstance(outcome, DecodeAbandoned)
    assert (busy, waiting, ran) == (0, 0, False)


def test_after_close_a_decode_stops_at_its_next_chunk_call() -> None:
    async def scenario() -> tuple[list[str], BaseException | None, int]:
        slots = ComputeSlots(2)
        gate = ChunkGate(turn(slots), asyncio.get_running_loop())
        order: list[str] = []
        inside = threading.Event()
        go_on = threading.Event()

        def decode() -> None:
            with gate.chunk():
                order.append("chunk 1")
                inside.set()
                go_on.wait(2)
            with gate.chunk():
                order.append("chunk 2")

        thread = asyncio.create_task(asyncio.to_thread(decode))
        await asyncio.to_thread(inside.wait, 2)
        gate.close()  # mid-call: the call finishes, the next one never starts
        go_on.set()
        [outcome] = await asyncio.gather(thread, return_exceptions=True)
        await asyncio.sleep(0)  # the release was scheduled from the thread
        return order, outcome, slots.busy

    order, outcome, busy = run(scenario())

    assert order == ["chunk 1"]
    assert isinstance(outcome, DecodeAbandoned)
    assert busy == 0


def test_a_closed_event_loop_abandons_the_decode() -> None:
    loop = asyncio.new_event_loop()
    gate = ChunkGate(turn(ComputeSlots(1)), loop)
    loop.close()
    with pytest.raises(DecodeAbandoned), gate.chunk():
        pytest.fail("never runs")


def test_wrap_gates_the_named_methods_only() -> None:
    class Model:
        is_multilingual = False

        def encode(self, x: int) -> int:
            return x * 2

        def tokens(self) -> list[int]:
            return [1]

    async def scenario() -> tuple[int, list[int], bool, int]:
        slots = ComputeSlots(1)
        gate = ChunkGate(turn(slots), asyncio.get_running_loop())
        gated = gate.wrap(Model(), ["encode"])
        encoded = await asyncio.to_thread(gated.encode, 21)
        tokens = await asyncio.to_thread(gated.tokens)
        await asyncio.sleep(0)
        gate.close()
        return encoded, tokens, gated.is_multilingual, gate.stats.calls

    assert run(scenario()) == (42, [1], False, 1)
