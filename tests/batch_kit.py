"""A batching engine at the engine boundary for scheduler and router tests: each request's audio
is ``id`` ms long, and the engine answers ``"text <id>"`` for each, so that tests see which
request ran in which call and that answers reach the right request."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from echoic.engines.scripted import ScriptedEngine
from echoic.types import (
    SAMPLE_RATE,
    Audio,
    Segment,
    TranscribeOptions,
    Transcript,
    build_transcript,
)


def id_of(audio: Audio) -> int:
    return round(len(audio) * 1000 / SAMPLE_RATE)


def said(id: int) -> Transcript:
    return build_transcript(
        segments=[Segment(id=0, start=0.0, end=id / 1000, text=f"text {id}")],
        duration=id / 1000,
        language="en",
    )


@dataclass
class BatchingEngine(ScriptedEngine):
    """Single calls and batches both take ``delay_s``; every call is logged in ``runs`` as the
    request ids it ran (a batch: several). ``fail_with`` makes every call raise it;
    ``share_pass_by(id)`` says which requests share a forward pass (``None``: all do)."""

    delay_s: float = 0.05
    limit: int = 16
    runs: list[list[int]] = field(default_factory=list)
    fail_with: Exception | None = None
    share_pass_by: Callable[[int], object] | None = None

    def batch_limit(self, options: TranscribeOptions) -> int:
        return 1 if options.encoder_pad_s is None else self.limit

    def batch_groups(self, samples: Sequence[int], options: TranscribeOptions) -> list[list[int]]:
        if self.share_pass_by is None:
            return [list(range(len(samples)))]
        groups: dict[object, list[int]] = {}
        for index, n in enumerate(samples):
            groups.setdefault(self.share_pass_by(round(n * 1000 / SAMPLE_RATE)), []).append(index)
        return list(groups.values())

    async def transcribe(self, audio: Audio, options: TranscribeOptions, **_: Any) -> Transcript:
        return (await self.transcribe_batch([audio], options))[0]

    async def transcribe_batch(
        self, audios: Sequence[Audio], options: TranscribeOptions
    ) -> list[Transcript]:
        self.runs.append([id_of(a) for a in audios])
        await asyncio.sleep(self.delay_s)
        if self.fail_with is not None:
            raise self.fail_with
        return [said(id_of(a)) for a in audios]
