"""faster-whisper in echoic's terms: the keyword arguments a :class:`TranscribeOptions` means
to faster-whisper (and to one right-sized window, :mod:`echoic.engines.window`), and the
:class:`Segment` and :class:`Transcript` its results become.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from echoic.engines.base import ProgressCallback
from echoic.engines.window import WindowOptions, WindowResult
from echoic.types import (
    Segment,
    TranscribeOptions,
    Transcript,
    TranscriptMetadata,
    Word,
    build_transcript,
    logprob_to_confidence,
)

#: Called from the inference thread with each segment as soon as it is decoded.
SegmentCallback = Callable[[Segment], None]


def decode_kwargs(options: TranscribeOptions) -> dict[str, Any]:
    """The faster-whisper keyword arguments for ``options``.

    Shared with the overhead benchmark so that echoic and plain faster-whisper are compared with
    identical decoding options.
    """
    return {
        "language": options.language,
        "task": options.task.value,
        "beam_size": options.beam_size,
        "temperature": (
            list(options.temperature)
            if isinstance(options.temperature, tuple)
            else options.temperature
        ),
        "initial_prompt": options.prompt,
        "word_timestamps": options.word_timestamps,
        "vad_filter": options.vad_filter,
    }


def window_options(options: TranscribeOptions) -> WindowOptions:
    return WindowOptions(
        language=options.language,
        beam_size=options.beam_size,
        prompt=options.prompt,
        word_timestamps=options.word_timestamps,
        pad_s=options.encoder_pad_s,
    )


def window_transcript(
    result: WindowResult, options: TranscribeOptions, metadata: TranscriptMetadata
) -> Transcript:
    return build_transcript(
        segments=[] if result.segment is None else [result.segment],
        duration=result.duration,
        language=result.language,
        language_probability=round(result.language_probability, 4),
        task=options.task,
        metadata=metadata,
    )


def collect_segments(
    raw: Iterable[Any],
    duration: float,
    progress: ProgressCallback | None,
    on_segment: SegmentCallback | None = None,
) -> list[Segment]:
    """Drain faster-whisper's lazy segments (decoding happens as they are pulled), reporting
    each to ``on_segment`` and ``progress`` as it comes."""
    segments: list[Segment] = []
    for seg in raw:
        words = None
        if seg.words is not None:
            words = tuple(
                Word(word=w.word, start=w.start, end=w.end, probability=w.probability)
                for w in seg.words
            )
        segments.append(
            Segment(
                id=len(segments),
                start=seg.start,
                end=seg.end,
                text=seg.text,
                confidence=logprob_to_confidence(seg.avg_logprob),
                avg_logprob=round(seg.avg_logprob, 4),
                no_speech_prob=round(seg.no_speech_prob, 4),
                compression_ratio=round(seg.compression_ratio, 4),
                temperature=seg.temperature,
                tokens=tuple(seg.tokens),
                words=words,
            )
        )
        if on_segment is not None:
            on_segment(segments[-1])
        if progress is not None:
            progress(min(seg.end, duration), duration)
    if progress is not None:
        progress(duration, duration)
    return segments
