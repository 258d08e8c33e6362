"""Word timings for the segments two speakers share (:func:`~echoic.diarize.labels.needs_words`).

Where the engine is a local faster-whisper one and the segment carries its tokens, the tokens
are aligned against the segment's audio (:mod:`echoic.engines.align`: one encoder pass and one
teacher-forced decoder pass, the text unchanged). Otherwise (a transcript from the cloud tier, an
engine that cannot align) the segment's audio is decoded again, alone, with word timings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import Any, Protocol, runtime_checkable

from echoic.engines.align import align_tokens
from echoic.engines.base import Engine
from echoic.routing.fallback import Router
from echoic.types import (
    SAMPLE_RATE,
    Audio,
    Segment,
    TranscribeOptions,
    Transcript,
    Word,
    build_transcript,
)

#: Word timings of one shared segment: its clip, the segment, the transcript's language → a
#: transcript of the clip (times from the clip's start) whose segments carry words.
WordsFor = Callable[[Audio, Segment, "str | None"], Awaitable[Transcript]]
SyncWordsFor = Callable[[Audio, Segment, "str | None"], Transcript]

#: Encoder padding for a shared segment decoded again (as for a live final): a segment is at
#: most 30 s, so the encoder sees the clip plus this much rather than a whole 30 s window.
CLIP_PAD_S = 5.0


@runtime_checkable
class WordAligner(Protocol):
    async def align_words(
        self, audio: Audio, tokens: Sequence[int], language: str | None
    ) -> tuple[Word, ...]: ...


def clip_options(options: TranscribeOptions) -> TranscribeOptions:
    """How a shared segment is decoded again: the request's options with word timings, one
    window right-sized to the clip, no VAD (the clip is one segment's speech)."""
    return replace(
        options, word_timestamps=True, batched=False, vad_filter=False, encoder_pad_s=CLIP_PAD_S
    )


def _aligned(
    clip: Audio, segment: Segment, words: tuple[Word, ...], language: str | None
) -> Transcript:
    duration = len(clip) / SAMPLE_RATE
    return build_transcript(
        segments=[replace(segment, start=0.0, end=duration, words=words)],
        duration=duration,
        language=language,
    )


def engine_words(
    engine: Engine,
    options: TranscribeOptions,
    around: Callable[[], AbstractContextManager[Any]] = nullcontext,
) -> WordsFor:
    """:data:`WordsFor` on ``engine`` (a router aligns on its local tier), each call inside
    ``around()`` (the server's background compute slots)."""
    local: object = engine.local_engine() if isinstance(engine, Router) else engine
    aligner = local if isinstance(local, WordAligner) else None
    decode = clip_options(options)

    async def words_for(clip: Audio, segment: Segment, language: str | None) -> Transcript:
        with around():
            if aligner is not None and segment.tokens:
                words = await aligner.align_words(clip, segment.tokens, language)
                return _aligned(clip, segment, words, language)
            return await engine.transcribe(clip, decode)

    return words_for


def engine_words_sync(engine: Any, options: TranscribeOptions) -> SyncWordsFor:
    """:data:`SyncWordsFor` on a local engine used from one thread (the CLI, benchmarks)."""
    model = getattr(engine, "whisper_model", None)
    decode = clip_options(options)

    def words_for(clip: Audio, segment: Segment, language: str | None) -> Transcript:
        if model is not None and segment.tokens:
            return _aligned(
                clip, segment, align_tokens(model, clip, segment.tokens, language), language
            )
        transcript: Transcript = engine.transcribe_sync(clip, decode)
        return transcript

    return words_for
