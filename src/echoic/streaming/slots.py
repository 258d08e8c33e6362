"""The device's compute slots: how many decodes run at once across every model of a process
(DESIGN.md §3 "Scheduling across sessions"), and who gets a freed one first.

On CPU there is one slot per core (each decode runs on one CTranslate2 thread). Live decodes
take a slot through their :class:`~echoic.streaming.scheduler.ModelScheduler`'s workers; REST
and job decodes take one per chunk call at :data:`BACKGROUND` priority
(:meth:`ComputeSlots.background`, :mod:`echoic.engines.gate`).

``final_headroom``: a live final does not wait for a slot that drafts, confirmations or chunk
calls hold; it may run beside them, over capacity by at most this many decodes, on a core they
already use. A dual-model stream needs it: when its speaker stops, the slow model's
confirmation and the fast model's newest draft often hold both cores, and the final waited
for one of them (up to 0.3 s on the LibriSpeech report sessions, README "Single vs
dual-model"). Finals never go over capacity because of each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

from echoic.engines.gate import chunk_slots
from echoic.streaming.decoding import DecodeKind

#: Who gets a free compute slot first (lower first); then the chunk calls of REST and job
#: decodes; a scheduler with nothing queued: last.
PRIORITY = {DecodeKind.FINAL: 0, DecodeKind.CONFIRM: 1, DecodeKind.DRAFT: 2}
FINAL = PRIORITY[DecodeKind.FINAL]
BACKGROUND = len(PRIORITY)
IDLE = BACKGROUND + 1


@dataclass(eq=False)
class _Waiter:
    #: Asked at each release: the kind of job the waiter would run now may have changed since
    #: it started waiting (a final arrived, or a sibling worker took the job).
    priority: Callable[[], int]
    seq: int
    future: asyncio.Future[None]


class ComputeSlots:
    """At most ``capacity`` decodes at once across every scheduler that holds these slots
    (``capacity + final_headroom`` while finals run beside other work); a freed slot goes to
    the waiter whose most urgent queued job is the most urgent now (:data:`PRIORITY`), first
    come first served among equals."""

    def __init__(self, capacity: int, *, final_headroom: int = 0) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        if final_headroom < 0:
            raise ValueError(f"final_headroom must not be negative, got {final_headroom}")
        self.capacity = capacity
        self.final_headroom = final_headroom
        self.busy = 0
        self._waiters: list[_Waiter] = []  # a handful: a worker or two per loaded model
        self._seq = itertools.count()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @contextlib.contextmanager
    def background(self) -> Iterator[None]:
        """Decodes started inside the ``with`` block (REST, jobs) take one of these slots at
        :data:`BACKGROUND` priority for each chunk call, on their inference threads: after every
        waiting live decode, never starved while live work leaves a slot free."""
        token = chunk_slots.set(_BackgroundTurn(self))
        try:
            yield
        finally:
            chunk_slots.reset(token)

    @contextlib.asynccontextmanager
    async def hold(self, priority: Callable[[], int]) -> AsyncIterator[None]:
        """Hold a slot; ``priority()`` says how urgent the holder's work is while it waits."""
        await self._acquire(priority)
        try:
            yield
        finally:
            self._release()

    def reconsider(self) -> None:
        """A waiter's priority may have risen (a final was queued behind it): let it into the
        headroom now rather than at the next release."""
        self._waiters = [w for w in self._waiters if not w.future.done()]
        self._hand_over()

    async def _acquire(self, priority: Callable[[], int]) -> None:
        if self.busy < self.capacity and not self._waiters:
            self.busy += 1
            return
        if self._fits(priority()) and not any(w.priority() == FINAL for w in self._waiters):
            self.busy += 1  # a final beside drafts, confirmations or chunk calls
            return
        waiter = _Waiter(priority, next(self._seq), asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                self._release()  # handed a slot just as it was cancelled: pass it on
            elif waiter in self._waiters:  # a release may have dropped it already
                self._waiters.remove(waiter)
            raise

    def _release(self) -> None:
        self._waiters = [w for w in self._waiters if not w.future.done()]
        self.busy -= 1
        self._hand_over()

    def _fits(self, priority: int) -> bool:
        """Whether a decode of ``priority`` may start with ``busy`` decodes running."""
        if self.busy < self.capacity:
            return True
        return priority == FINAL and self.busy < self.capacity + self.final_headroom

    def _hand_over(self) -> None:
        while self._waiters:
            best = min(self._waiters, key=lambda w: (w.priority(), w.seq))
            if not self._fits(best.priority()):
                return
            self._waiters.remove(best)
            self.busy += 1
            best.future.set_result(None)


class _BackgroundTurn:
    """The slots as a background chunk call takes them (an ``engines.gate.SlotTurn``)."""

    def __init__(self, slots: ComputeSlots) -> None:
        self.slots = slots

    async def acquire(self) -> None:
        await self.slots._acquire(_background)

    def release(self) -> None:
        self.slots._release()


def _background() -> int:
    return BACKGROUND
