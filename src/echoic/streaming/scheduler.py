"""Shares one loaded model between every live stream (DESIGN.md §3 "Scheduling across sessions").

Each model gets as many workers as its engine runs calls side by side
(``capabilities.parallel_calls``: on CPU one per core, each call on one thread, DESIGN.md §10);
every worker takes the next job from one shared, ordered queue:

- finals, then confirmations, then drafts: a user who stopped talking waits for nobody's draft;
- fair rotation across sessions for confirmations and drafts; finals first-come first-served;
- confirmations and drafts are coalesced: a session has at most one queued of each, and a newer
  one replaces it (the replaced request is answered as superseded, so nothing waits forever);
- the queue is bounded: past ``max_queued_drafts`` of a kind the oldest is superseded.
  Finals are never dropped;
- drafts of several sessions go as one batched call when the engine batches them
  (:class:`~echoic.engines.base.BatchEngine`): a worker that takes a draft takes the other
  sessions' queued drafts with the same options too, up to ``max_batch``, oldest session first.
  Nothing waits for a batch to fill: a batch is whatever is queued when a worker is free.
  Finals of several sessions likewise (up to ``max_final_batch``, each worker taking its share
  of the queued ones, so that the cores split them); confirmations always run alone.

The schedulers of a process may share :class:`~echoic.streaming.slots.ComputeSlots`, the
device's coordinator: however many models are loaded, no more decodes run at once than the
device has room for (one per core on CPU), and a waiting final gets the next free slot before
any model's draft, or with ``final_headroom`` (a dual-model pair's default) starts at once beside
them. REST and job
decodes take the same slots at :data:`BACKGROUND` priority, one chunk call at a time
(:meth:`ComputeSlots.background`, :mod:`echoic.engines.gate`), so a long file delays a live
decode by one chunk call at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from echoic.clock import Clock, SystemClock
from echoic.engines.base import BatchEngine, Engine
from echoic.errors import EchoicError, EngineError, SupersededError
from echoic.streaming.batching import final_share, shared_pass
from echoic.streaming.decoding import DecodeKind, DecodeRequest, DecodeResult
from echoic.streaming.slots import BACKGROUND, IDLE, PRIORITY, ComputeSlots
from echoic.types import Transcript

__all__ = [
    "BACKGROUND",
    "DEFAULT_MAX_BATCH",
    "DUAL_FINAL_HEADROOM",
    "IDLE",
    "PRIORITY",
    "ComputeSlots",
    "ModelScheduler",
    "SchedulerStats",
    "WaitObserver",
]

log = logging.getLogger(__name__)


@dataclass
class _Job:
    request: DecodeRequest
    future: asyncio.Future[DecodeResult]
    queued_at: float


#: Told how long each decode waited to start (kind, seconds): queue and compute slot together.
WaitObserver = Callable[[DecodeKind, float], None]


@dataclass
class SchedulerStats:
    decodes: int = 0
    drafts: int = 0
    finals: int = 0
    superseded: int = 0
    busy_s: float = 0.0
    wait_s_total: float = 0.0
    #: Engine calls that ran several drafts at once, and the drafts they ran.
    batches: int = 0
    batched: int = 0


#: Drafts one batched call runs at most (``ModelScheduler(max_batch=…)``; 1: no batching).
DEFAULT_MAX_BATCH = 8
#: A dual-model pair's finals may run beside its drafts and confirmations, over the compute
#: slots by one (:class:`~echoic.streaming.slots.ComputeSlots`; README "Single vs dual-model").
DUAL_FINAL_HEADROOM = 1


class ModelScheduler:
    def __init__(
        self,
        engine: Engine,
        *,
        workers: int | None = None,
        max_queued_drafts: int = 64,
        slots: ComputeSlots | None = None,
        on_wait: WaitObserver | None = None,
        clock: Clock | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_final_batch: int = 1,
    ) -> None:
        if max_batch < 1 or max_final_batch < 1:
            raise ValueError(
                f"max_batch and max_final_batch must be at least 1, got {max_batch}, "
                f"{max_final_batch}"
            )
        self.engine = engine
        self.workers = workers or max(1, engine.capabilities.parallel_calls)
        self._clock = clock or SystemClock()
        self._max_drafts = max_queued_drafts
        self.max_batch = max_batch
        self.max_final_batch = max_final_batch
        self._batcher = engine if isinstance(engine, BatchEngine) else None
        self.slots = slots
        self._on_wait = on_wait
        self._finals: deque[_Job] = deque()
        # session → its newest queued request of the kind; oldest session first
        self._confirms: OrderedDict[str, _Job] = OrderedDict()
        self._drafts: OrderedDict[str, _Job] = OrderedDict()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        #: Workers in an engine call on finals: they will not take a share of the queued ones
        #: soon (a draft's call is short; theirs is not).
        self._on_finals = 0
        self.stats = SchedulerStats()

    @property
    def depth(self) -> int:
        return len(self._finals) + len(self._confirms) + len(self._drafts)

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._run(), name=f"scheduler:{self.engine.name}:{i}")
                for i in range(self.workers)
            ]

    async def aclose(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for job in [*self._finals, *self._confirms.values(), *self._drafts.values()]:
            if not job.future.done():
                job.future.cancel()
        self._finals.clear()
        self._confirms.clear()
        self._drafts.clear()

    def submit(self, request: DecodeRequest) -> asyncio.Future[DecodeResult]:
        """Queue ``request``; the future resolves with its result (errors included, not raised)."""
        self.start()
        future: asyncio.Future[DecodeResult] = asyncio.get_running_loop().create_future()
        job = _Job(request=request, future=future, queued_at=self._clock.now())
        if request.kind is DecodeKind.FINAL:
            self._finals.append(job)
        else:
            queue = self._coalesced(request.kind)
            replaced = queue.pop(request.session_id, None)
            if replaced is not None:
                self._supersede(replaced)
            queue[request.session_id] = job
            while len(queue) > self._max_drafts:
                _, oldest = queue.popitem(last=False)
                self._supersede(oldest)
        self._wake.set()
        if request.kind is DecodeKind.FINAL and self.slots is not None:
            self.slots.reconsider()  # a worker waiting at a lower priority may go now
        return future

    def cancel(self, session_id: str, request_id: int) -> bool:
        """Drop a queued request that has not started; True if it was dropped. Window ids are
        per session, so a request is named by both."""
        for job in self._finals:
            if job.request.id == request_id and job.request.session_id == session_id:
                self._finals.remove(job)
                job.future.cancel()
                return True
        for queue in (self._confirms, self._drafts):
            queued = queue.get(session_id)
            if queued is not None and queued.request.id == request_id:
                del queue[session_id]
                queued.future.cancel()
                return True
        return False

    def _supersede(self, job: _Job) -> None:
        self.stats.superseded += 1
        if not job.future.done():
            error = SupersededError(f"{job.request.kind} {job.request.id} replaced by a newer one")
            job.future.set_result(DecodeResult(request_id=job.request.id, error=error))

    def _urgency(self) -> int:
        head = self._head()
        return IDLE if head is None else PRIORITY[head]

    def _head(self) -> DecodeKind | None:
        """The kind of job :meth:`_next` would take."""
        if self._finals:
            return DecodeKind.FINAL
        if self._confirms:
            return DecodeKind.CONFIRM
        return DecodeKind.DRAFT if self._drafts else None

    def _next(self) -> _Job | None:
        head = self._head()
        if head is None:
            return None
        if head is DecodeKind.FINAL:
            return self._finals.popleft()
        _, job = self._coalesced(head).popitem(last=False)  # oldest session first: fair rotation
        return job

    def _coalesced(self, kind: DecodeKind) -> OrderedDict[str, _Job]:
        """The per-session queue of confirmations or drafts."""
        return self._confirms if kind is DecodeKind.CONFIRM else self._drafts

    async def _run(self) -> None:
        while True:
            head = self._head()
            if head is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            if self.slots is None:
                await self._run_next()
            else:
                # The job is taken only once a slot is free, so that it is the newest of its
                # session and the most urgent by then.
                async with self.slots.hold(self._urgency):
                    await self._run_next()

    async def _run_next(self) -> None:
        jobs = self._take()
        if not jobs:
            return
        finals = jobs[0].request.kind is DecodeKind.FINAL
        self._on_finals += finals
        try:
            results = await self._decode(jobs)
        except asyncio.CancelledError:
            for job in jobs:  # aclose: whoever awaits these decodes must not wait forever
                job.future.cancel()
            raise
        finally:
            self._on_finals -= finals
        for job, result in zip(jobs, results, strict=True):
            if not job.future.done():
                job.future.set_result(result)

    def _take(self) -> list[_Job]:
        """The next job and, when it is a draft the engine batches, the drafts of other
        sessions queued with the same options that would share its forward pass (the engine's
        :meth:`~echoic.engines.base.BatchEngine.batch_groups`: windows of similar length),
        oldest session first, up to ``max_batch``. The others stay queued in their turn."""
        job = self._next()
        if job is None or job.future.done():
            return []
        request = job.request
        if request.kind is DecodeKind.FINAL:
            return self._take_finals(job)
        if request.kind is not DecodeKind.DRAFT or self._batcher is None or self.max_batch < 2:
            return [job]
        queued = list(self._drafts.values())
        joining = shared_pass(request, [q.request for q in queued], self._batcher, self.max_batch)
        for i in joining:
            del self._drafts[queued[i].request.session_id]
        return [job, *(queued[i] for i in joining)]

    def _take_finals(self, job: _Job) -> list[_Job]:
        """A final and the finals queued behind it that would share its forward pass (same
        options, similar length), up to ``max_final_batch`` and to this worker's share of the
        queue: the workers not busy with finals take the rest beside it, on the other cores."""
        if self._batcher is None or self.max_final_batch < 2 or not self._finals:
            return [job]
        queued = list(self._finals)
        share = final_share(len(queued), self.workers, self._on_finals)
        limit = min(self.max_final_batch, share)
        joining = shared_pass(job.request, [q.request for q in queued], self._batcher, limit)
        for i in joining:
            self._finals.remove(queued[i])
        return [job, *(queued[i] for i in joining)]

    async def _decode(self, jobs: list[_Job]) -> list[DecodeResult]:
        """Run ``jobs`` as one engine call (several: drafts the engine batches); a failure
        answers every one of them with its error."""
        started = self._clock.now()
        for job in jobs:
            self._waited(job, started)
        requests = [job.request for job in jobs]
        transcripts: list[Transcript | None] = [None] * len(requests)
        error: EchoicError | None = None
        try:
            transcripts = [*await self._call(requests)]
        except EchoicError as exc:
            error = exc
        except Exception as exc:  # an engine bug must not kill the worker every stream shares
            ids = ", ".join(str(r.id) for r in requests)
            log.exception("engine %s failed on request %s", self.engine.name, ids)
            error = EngineError(f"engine failure: {exc}")
        finished = self._clock.now()
        self.stats.busy_s += finished - started  # one call: its time counts once
        if len(requests) > 1:
            self.stats.batches += 1
            self.stats.batched += len(requests)
        return [
            self._done(request, started, finished, transcript=transcript, error=error)
            for request, transcript in zip(requests, transcripts, strict=True)
        ]

    async def _call(self, requests: list[DecodeRequest]) -> list[Transcript]:
        if len(requests) == 1:
            request = requests[0]
            return [await self.engine.transcribe(request.audio, request.options)]
        assert self._batcher is not None  # _take batches only for a batching engine
        transcripts = await self._batcher.transcribe_batch(
            [r.audio for r in requests], requests[0].options
        )
        if len(transcripts) != len(requests):
            raise EngineError(f"{len(transcripts)} transcripts for a batch of {len(requests)}")
        return transcripts

    def _waited(self, job: _Job, started: float) -> None:
        waited = started - job.queued_at
        self.stats.wait_s_total += waited
        if self._on_wait is not None:
            try:
                self._on_wait(job.request.kind, waited)
            except Exception:  # a metrics bug must not kill the worker every stream shares
                log.exception("wait observer failed")

    def _done(
        self,
        request: DecodeRequest,
        started: float,
        finished: float,
        *,
        transcript: Transcript | None,
        error: EchoicError | None,
    ) -> DecodeResult:
        self.stats.decodes += 1
        if request.kind is DecodeKind.FINAL:
            self.stats.finals += 1
        else:
            self.stats.drafts += 1
        return DecodeResult(
            request_id=request.id,
            transcript=transcript,
            error=error,
            started_at=started,
            finished_at=finished,
        )
