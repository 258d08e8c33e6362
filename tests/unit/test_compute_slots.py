"""Compute slots with final headroom: a live final starts beside the drafts and confirmations
holding every slot instead of waiting for one of them (a dual-model stream's final latency)."""

from __future__ import annotations

import asyncio

import pytest

from echoic.clock import SystemClock
from echoic.engines.base import Capabilities
from echoic.engines.scripted import ScriptedEngine, Step
from echoic.settings import Settings
from echoic.streaming.decoding import DecodeKind
from echoic.streaming.hub import StreamHub
from echoic.streaming.scheduler import DUAL_FINAL_HEADROOM, ModelScheduler
from echoic.streaming.schedulers import Schedulers
from echoic.streaming.slots import PRIORITY, ComputeSlots
from tests.unit.test_scheduler import confirm, final, ran_id, request, run

FINAL, CONFIRM, DRAFT = (
    PRIORITY[k] for k in (DecodeKind.FINAL, DecodeKind.CONFIRM, DecodeKind.DRAFT)
)


async def holding(slots: ComputeSlots, priority: int, log: list[str], name: str) -> None:
    async with slots.hold(lambda: priority):
        log.append(name)
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("headroom", [0, 1])
def test_finals_start_beside_busy_slots_only_within_the_headroom(headroom: int) -> None:
    async def scenario() -> tuple[list[str], list[int]]:
        slots = ComputeSlots(2, final_headroom=headroom)
        log: list[str] = []
        busy: list[int] = []
        tasks = [
            asyncio.create_task(holding(slots, DRAFT, log, "draft")),
            asyncio.create_task(holding(slots, CONFIRM, log, "confirm")),
        ]
        await asyncio.sleep(0.001)
        tasks.append(asyncio.create_task(holding(slots, FINAL, log, "final")))
        await asyncio.sleep(0.001)
        busy.append(slots.busy)  # both slots held, and the final running or waiting
        tasks.append(asyncio.create_task(holding(slots, FINAL, log, "final 2")))
        await asyncio.sleep(0.001)
        busy.append(slots.busy)
        started = list(log)
        await asyncio.gather(*tasks)
        assert (slots.busy, slots.waiting) == (0, 0)
        return started, busy

    started, busy = run(scenario())

    # Without headroom nothing starts beside the two holders; with it one final does, and a
    # second final waits: finals never go over capacity because of each other.
    assert started == ["draft", "confirm", "final"][: 2 + headroom]
    assert busy == [2 + headroom, 2 + headroom]


def test_a_final_queued_behind_a_waiting_worker_takes_the_headroom_at_once() -> None:
    async def scenario() -> list[int]:
        slots = ComputeSlots(1, final_headroom=1)
        engine = ScriptedEngine.saying("x", delay_s=0.05)
        scheduler = ModelScheduler(engine, workers=2, slots=slots)
        futures = [scheduler.submit(request(1, "a"))]
        await asyncio.sleep(0.005)  # draft 1 holds the only slot
        futures.append(scheduler.submit(request(2, "b")))  # the second worker waits for it
        await asyncio.sleep(0.005)
        futures.append(scheduler.submit(final(3, "b")))  # ... and may now run this final
        await asyncio.sleep(0.01)
        assert slots.busy == 2  # the final runs beside draft 1, before it ends
        await asyncio.gather(*futures)
        await scheduler.aclose()
        return [ran_id(call) for call in engine.calls]

    assert run(scenario()) == [1, 3, 2]


def test_a_dual_pair_s_final_runs_beside_its_confirmation_and_draft() -> None:
    class Parallel(ScriptedEngine):
        @property
        def capabilities(self) -> Capabilities:
            return Capabilities(parallel_calls=2)

    async def scenario(headroom: int) -> float:
        fast = Parallel(steps=[Step(text="d", delay_s=0.1)])
        heavy = Parallel(steps=[Step(text="c", delay_s=0.1)])
        pair = Schedulers.of(fast, heavy, final_headroom=headroom)
        running = [pair.confirm.submit(confirm(1, "a")), pair.draft.submit(request(2, "a"))]
        await asyncio.sleep(0.01)
        asked = SystemClock().now()
        result = await pair.confirm.submit(final(3, "a"))
        await asyncio.gather(*running)
        await pair.aclose()
        return result.started_at - asked

    assert DUAL_FINAL_HEADROOM == 1
    assert run(scenario(1)) < 0.03  # started at once
    assert run(scenario(0)) > 0.07  # waited for the draft or the confirmation to end


def test_headroom_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="final_headroom"):
        ComputeSlots(2, final_headroom=-1)


@pytest.mark.parametrize("headroom", [0, 2])
def test_the_server_s_slots_take_their_headroom_from_its_settings(headroom: int) -> None:
    # A server's slots are shared by single- and dual-model streams and by files: no headroom
    # unless ECHOIC_FINAL_HEADROOM says so.
    assert Settings().final_headroom == 0
    settings = Settings(final_headroom=headroom)
    engine = ScriptedEngine()
    hub = StreamHub(lambda _model: engine, final_headroom=settings.final_headroom)
    slots = hub.compute_slots(engine)
    assert (slots.capacity, slots.final_headroom) == (1, headroom)
