"""The engine interface: what every speech-to-text backend offers (DESIGN.md §4).

Engines are async at the surface and keep blocking inference off the event loop themselves.
``audio`` is always 16 kHz mono float32 (see :mod:`echoic.audio`).
"""

from __future__ import annotations

from collections.abc import Callable
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
