"""A deterministic engine for tests and demos: scripted texts, delays and failures.

Shipped in the package, like httpx's ``MockTransport``: tests of the router, the streaming
runner and the server use it at the engine boundary instead of patching internals.

    engine = ScriptedEngine([Step(text="hello world"), Step(error=EngineTimeoutError("slow"))])

Each call consumes the next step; the last step repeats. Every call is recorded in ``calls``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from echoic.engines.base import Capabilities, Health, LanguageGuess, ProgressCallback
from echoic.errors import EchoicError
from echoic.types import (
    SAMPLE_RATE,
    Audio,
    Segment,
    TranscribeOptions,
    Transcript,
    TranscriptMetadata,
    Word,
    build_transcript,
)


@dataclass(frozen=True, kw_only=True)
class Step:
    """What one call does: wait ``delay_s``, then raise ``error`` or return ``text``."""

    text: str = ""
    delay_s: float = 0.0
    error: EchoicError | None = None
    language: str = "en"


@dataclass(frozen=True, kw_only=True)
class Call:
    duration_s: float
    options: TranscribeOptions
    started_at: float


@dataclass
class ScriptedEngine:
    steps: list[Step] = field(default_factory=lambda: [Step(text="")])
    model: str = "scripted"
    calls: list[Call] = field(default_factory=list)
    closed: bool = False

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError("a ScriptedEngine needs at least one step")

    @classmethod
    def saying(cls, *texts: str, delay_s: float = 0.0) -> ScriptedEngine:
        return cls(steps=[Step(text=t, delay_s=delay_s) for t in texts])

    @property
    def name(self) -> str:
        return f"scripted:{self.model}"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(streaming=False, word_timestamps=True, translation=True, device="cpu")

    def _next_step(self, audio: Audio, options: TranscribeOptions) -> Step:
        index = min(len(self.calls), len(self.steps) - 1)
        self.calls.append(
            Call(duration_s=len(audio) / SAMPLE_RATE, options=options, started_at=time.monotonic())
        )
        return self.steps[index]

    async def transcribe(
        self,
        audio: Audio,
        options: TranscribeOptions,
        *,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        step = self._next_step(audio, options)
        if step.delay_s:
            await asyncio.sleep(step.delay_s)
        return self._result(step, audio, options, progress)

    def transcribe_sync(
        self,
        audio: Audio,
        options: TranscribeOptions,
        *,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        step = self._next_step(audio, options)
        if step.delay_s:
            time.sleep(step.delay_s)
        return self._result(step, audio, options, progress)

    def _result(
        self,
        step: Step,
        audio: Audio,
        options: TranscribeOptions,
        progress: ProgressCallback | None,
    ) -> Transcript:
        if step.error is not None:
            raise step.error
        duration = len(audio) / SAMPLE_RATE
        if progress is not None:
            progress(duration, duration)
        segments = [_even_segment(step.text, duration)] if step.text.strip() else []
        if not options.word_timestamps:
            segments = [
                Segment(id=s.id, start=s.start, end=s.end, text=s.text, confidence=1.0)
                for s in segments
            ]
        return build_transcript(
            segments=segments,
            duration=duration,
            language=step.language,
            language_probability=1.0,
            task=options.task,
            metadata=TranscriptMetadata(
                provider="local", engine="scripted", model=self.model, compute_type="none"
            ),
        )

    async def detect_language(self, audio: Audio) -> LanguageGuess:
        step = self.steps[min(len(self.calls), len(self.steps) - 1)]
        return LanguageGuess(language=step.language, probability=1.0)

    async def healthcheck(self) -> Health:
        return Health(ok=not self.closed, detail=self.name)

    async def aclose(self) -> None:
        self.closed = True


def _even_segment(text: str, duration: float) -> Segment:
    """One segment over the whole audio, its words spread evenly across it."""
    tokens = text.split()
    step = duration / max(1, len(tokens))
    words = tuple(
        Word(word=w, start=round(i * step, 3), end=round((i + 1) * step, 3), probability=1.0)
        for i, w in enumerate(tokens)
    )
    return Segment(id=0, start=0.0, end=duration, text=text, confidence=1.0, words=words)
