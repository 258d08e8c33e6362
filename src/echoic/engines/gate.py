"""File decodes take turns with live ones: one compute slot per chunk call.

A REST or job decode of a long file runs for seconds on an inference thread, chunk after chunk;
a live final that arrives meanwhile must not wait for the whole file. The server runs such
decodes inside :data:`chunk_slots` (``ComputeSlots.background()``, in
:mod:`echoic.streaming.scheduler`), and a local engine then passes each of the decode's heavy
calls (a CTranslate2 encode, generate, align or language detection: one 30 s window's worth of
work at most) through a :class:`ChunkGate`: the calling thread blocks until it holds one of the
device's compute slots, at a priority below every live decode, and gives it back as soon as the
call returns. A waiting live final therefore takes the next slot a chunk call frees, and waits
for one chunk call at most.

The slots are asyncio objects on the server's event loop, the calls run on threads: the gate
acquires on the loop (``call_soon_threadsafe``) and blocks the thread on the outcome. When the
caller stops waiting for the decode (a client went away, a timeout, a shutdown),
:meth:`ChunkGate.close` cancels the acquisitions in flight and the decode stops at its next
chunk call with :class:`DecodeAbandoned`, which nobody awaits; no slot stays taken.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol


class SlotTurn(Protocol):
    """One slot of the device at a fixed priority (the background one of
    :class:`echoic.streaming.scheduler.ComputeSlots`). Both methods run on the event loop."""

    async def acquire(self) -> None: ...

    def release(self) -> None: ...


#: The slots the decodes started in this context take turns for, one per chunk call; ``None``:
#: they run ungated (the CLI, benchmarks, a worker process of its own). Set it with
#: ``ComputeSlots.background()``; a decode reads it when it starts, on the event loop.
chunk_slots: ContextVar[SlotTurn | None] = ContextVar("echoic_chunk_slots", default=None)


class DecodeAbandoned(Exception):
    """Raised on the inference thread at the next chunk call of a decode nobody waits for."""


@dataclass
class GateStats:
    """What one decode's chunk calls did: how many, how long they held their slots in all and
    at most, and how long they waited for them."""

    calls: int = 0
    held_s: float = 0.0
    longest_s: float = 0.0
    waited_s: float = 0.0


class ChunkGate:
    """One decode's way to the slots. Made and closed on the event loop; :meth:`chunk` is
    called on the decode's threads (several at once for a batch's chunks)."""

    def __init__(self, slots: SlotTurn, loop: asyncio.AbstractEventLoop) -> None:
        self._slots = slots
        self._loop = loop
        self._closed = False  # read and written on the loop only
        self._acquiring: set[asyncio.Task[None]] = set()
        self._lock = threading.Lock()  # guards stats: several threads report
        self.stats = GateStats()

    @contextlib.contextmanager
    def chunk(self) -> Iterator[None]:
        """Hold a slot while the ``with`` block runs one chunk call (blocking the thread)."""
        asked = time.perf_counter()
        outcome: concurrent.futures.Future[bool] = concurrent.futures.Future()
        try:
            self._loop.call_soon_threadsafe(self._start, outcome)
        except RuntimeError:  # the loop is closed: nobody can be waiting any more
            raise DecodeAbandoned("the event loop is closed") from None
        if not self._wait(outcome):
            raise DecodeAbandoned("nobody waits for this decode any more")
        started = time.perf_counter()
        try:
            yield
        finally:
            held = time.perf_counter() - started
            with contextlib.suppress(RuntimeError):  # a closed loop has no slots to give back
                self._loop.call_soon_threadsafe(self._slots.release)
            with self._lock:
                self.stats.calls += 1
                self.stats.held_s += held
                self.stats.longest_s = max(self.stats.longest_s, held)
                self.stats.waited_s += started - asked

    def _wait(self, outcome: concurrent.futures.Future[bool]) -> bool:
        while True:
            try:
                return outcome.result(timeout=1.0)
            except TimeoutError:
                if self._loop.is_closed():  # stopped without cancelling its tasks
                    return False

    def _start(self, outcome: concurrent.futures.Future[bool]) -> None:
        """On the loop: acquire a slot for the thread waiting on ``outcome``."""
        if self._closed:
            outcome.set_result(False)
            return
        task = self._loop.create_task(self._acquire(outcome), name="echoic:chunk-slot")
        self._acquiring.add(task)

        def settled(task: asyncio.Task[None]) -> None:
            self._acquiring.discard(task)
            if not outcome.done():  # cancelled, even before it started: no slot taken
                outcome.set_result(False)

        task.add_done_callback(settled)

    async def _acquire(self, outcome: concurrent.futures.Future[bool]) -> None:
        await self._slots.acquire()
        # Still on the loop, so close() cannot slip in between: the thread now owns the slot.
        outcome.set_result(True)

    def close(self) -> None:
        """On the loop, once the decode's caller stops waiting for it (done or not): waiting
        calls give up (their slots, if just handed over, pass on) and later ones raise
        :class:`DecodeAbandoned`."""
        self._closed = True
        for task in list(self._acquiring):
            task.cancel()

    def wrap(self, target: Any, methods: Iterable[str]) -> Any:
        """``target`` whose ``methods`` each hold a slot while they run; the rest as it is."""
        return _Gated(target, self, frozenset(methods))


class _Gated:
    def __init__(self, target: Any, gate: ChunkGate, methods: frozenset[str]) -> None:
        self._target = target
        self._gate = gate
        self._methods = methods

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if name not in self._methods:
            return attribute
        return self._gated(attribute)

    def _gated(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            with self._gate.chunk():
                return method(*args, **kwargs)

        return call
