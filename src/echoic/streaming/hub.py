"""Every live stream of a process: one scheduler per model, shared; the streams themselves.

The server keeps one :class:`StreamHub`. Streams ask it for the schedulers of their model pair
(so a hundred streams on ``tiny.en`` share one loaded copy and one queue), register while they
run, and are all ended on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from functools import partial

from echoic.engines.base import Engine
from echoic.streaming.decoding import DecodeKind
from echoic.streaming.live import LiveStream
from echoic.streaming.scheduler import (
    DEFAULT_MAX_BATCH,
    ComputeSlots,
    ModelScheduler,
)
from echoic.streaming.schedulers import Schedulers
from echoic.streaming.speakers import SpeakerEmbeddings
from echoic.vad.detector import SpeechDetector
from echoic.vad.silero import SileroVad

EngineGetter = Callable[[str], Engine]


class StreamHub:
    def __init__(
        self,
        engines: EngineGetter,
        *,
        on_wait: Callable[[str, DecodeKind, float], None] | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
        speakers: SpeakerEmbeddings | None = None,
        final_headroom: int = 0,
        final_batch: int = 1,
    ) -> None:
        """``on_wait(model, kind, seconds)`` hears how long each live decode waited to start;
        ``max_batch``: drafts of several streams one batched call runs at most; ``speakers``:
        voice embeddings for streams that diarize (``None``: no stream may);
        ``final_headroom``: finals that may run over the compute slots beside other work
        (:class:`~echoic.streaming.slots.ComputeSlots`; every stream and file shares these
        slots, so 0 unless the server is told, ``ECHOIC_FINAL_HEADROOM``); ``final_batch``:
        finals of several streams one batched call runs at most."""
        self._engines = engines
        self.speakers = speakers
        self._on_wait = on_wait
        self._max_batch = max_batch
        self._final_headroom = final_headroom
        self._final_batch = final_batch
        self._schedulers: dict[str, ModelScheduler] = {}
        self._streams: set[LiveStream] = set()
        self._closing = False
        self._vad: SileroVad | None = None
        self._slots: ComputeSlots | None = None  # every model's decodes share the cores
        self._decoded: dict[tuple[str, str], int] = {}
        self._base: defaultdict[tuple[str, str], int] = defaultdict(int)

    def engine(self, model: str) -> Engine:
        return self._engines(model)

    def detector(self) -> SpeechDetector:
        """A speech detector for one stream: Silero, loaded once and forked per stream."""
        if self._vad is None:
            self._vad = SileroVad()
        return self._vad.fork()

    def schedulers(self, model: str, confirm_model: str | None = None) -> Schedulers:
        """The shared schedulers for a stream drafting with ``model`` and confirming with
        ``confirm_model`` (the same model when ``None``). Loads models on first use."""
        draft = self._scheduler(model)
        if confirm_model is None or confirm_model == model:
            return Schedulers.single(draft)
        return Schedulers(draft=draft, confirm=self._scheduler(confirm_model))

    def _scheduler(self, model: str) -> ModelScheduler:
        scheduler = self._schedulers.get(model)
        if scheduler is None:
            engine = self._engines(model)
            on_wait = None
            if self._on_wait is not None:
                on_wait = partial(self._on_wait, model)
            scheduler = ModelScheduler(
                engine,
                slots=self.compute_slots(engine),
                on_wait=on_wait,
                max_batch=self._max_batch,
                max_final_batch=self._final_batch,
            )
            self._schedulers[model] = scheduler
        return scheduler

    def compute_slots(self, engine: Engine) -> ComputeSlots:
        """The device's slots, shared by every decode of the process: the live schedulers', and
        REST and in-process job decodes at background priority (``slots.background()``). Made
        on first use, as many as ``engine`` runs calls at once (the engines of a server share
        one device configuration)."""
        if self._slots is None:
            self._slots = ComputeSlots(
                max(1, engine.capabilities.parallel_calls), final_headroom=self._final_headroom
            )
        return self._slots

    @property
    def active(self) -> int:
        return len(self._streams)

    @property
    def closing(self) -> bool:
        return self._closing

    def queue_depths(self) -> dict[str, int]:
        return {model: s.depth for model, s in self._schedulers.items()}

    def decode_counts(self) -> dict[tuple[str, str], int]:
        """Decodes run so far, by (model, ``final`` or ``interim``: drafts and confirmations);
        kept across shutdown so that the count only grows."""
        for model, scheduler in self._schedulers.items():
            self._decoded[(model, "final")] = self._base[(model, "final")] + scheduler.stats.finals
            self._decoded[(model, "interim")] = (
                self._base[(model, "interim")] + scheduler.stats.drafts
            )
        return dict(self._decoded)

    @contextlib.contextmanager
    def registered(self, stream: LiveStream) -> Iterator[None]:
        self._streams.add(stream)
        try:
            yield
        finally:
            self._streams.discard(stream)

    async def shutdown(self, timeout_s: float = 10.0) -> None:
        """Finish every stream (their clients get ``end``), then stop the schedulers."""
        self._closing = True
        streams = list(self._streams)
        if streams:
            await asyncio.wait(
                [asyncio.create_task(s.finish(), name="hub:finish") for s in streams],
                timeout=timeout_s,
            )
        for stream in streams:
            if not stream.done:
                await stream.cancel()
        for scheduler in self._schedulers.values():
            await scheduler.aclose()
        self._base.update(self.decode_counts())
        self._schedulers.clear()
        if self.speakers is not None:
            self.speakers.close()
