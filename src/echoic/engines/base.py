"""The engine interface: what every speech-to-text backend offers (DESIGN.md §4).

Engines are async at the surface and keep blocking inference off the event loop themselves.
``audio`` is always 16 kHz mono float32 (see :mod:`echoic.audio`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from echoic.types import Audio, TranscribeOptions, Transcript

#: Called from the inference thread with (seconds of audio done, total seconds).
ProgressCallback = Callable[[float, float], None]


@dataclass(frozen=True, kw_only=True)
class Capabilities:
    streaming: bool = False
    word_timestamps: bool = True
    translation: bool = False
    languages: tuple[str, ...] | None = None  # None: any language the model detects
    device: str = "cpu"
    #: Calls that run side by side without slowing each other (a local model's workers); a
    #: scheduler that owns the engine keeps this many in flight.
    parallel_calls: int = 1


@dataclass(frozen=True, kw_only=True)
class LanguageGuess:
    language: str
    probability: float


@dataclass(frozen=True, kw_only=True)
class Health:
    ok: bool
    detail: str = ""


@runtime_checkable
class Engine(Protocol):
    """A speech-to-text backend. One instance serves many concurrent callers."""

    @property
    def name(self) -> str:
        """Stable identifier, e.g. ``faster-whisper:tiny.en``."""
        ...

    @property
    def capabilities(self) -> Capabilities: ...

    async def transcribe(
        self,
        audio: Audio,
        options: TranscribeOptions,
        *,
        progress: ProgressCallback | None = None,
    ) -> Transcript: ...

    async def detect_language(self, audio: Audio) -> LanguageGuess: ...

    async def healthcheck(self) -> Health: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class BatchEngine(Engine, Protocol):
    """An engine that runs several short requests as one forward pass: the drafts of several
    live streams due at once (:class:`echoic.streaming.scheduler.ModelScheduler` batches them).
    """

    def batch_limit(self, options: TranscribeOptions) -> int:
        """How many audios with ``options`` one :meth:`transcribe_batch` runs together (1: it
        would run them one by one, so batching them gains nothing)."""
        ...

    def batch_groups(self, samples: Sequence[int], options: TranscribeOptions) -> list[list[int]]:
        """How audios of these lengths would split into forward passes (lists of indexes): a
        caller that sends one group per call gets each answer as soon as its pass is done."""
        ...

    async def transcribe_batch(
        self, audios: Sequence[Audio], options: TranscribeOptions
    ) -> list[Transcript]:
        """One transcript per audio, in order; an error fails the whole batch."""
        ...
