"""A transcript cut into chunks for retrieval: consecutive segments joined into spans of at most
``max_chars`` characters and ``max_s`` seconds, never across a change of speaker (pure).

Sentence-sized segments are too small to embed well and a whole transcript too large; spans of
a few hundred characters with their times let a search hit point back into the audio. A
segment longer than the limits is a chunk on its own (segments are never split).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from echoic.types import Segment, clean_text

MAX_CHARS = 800  # ≈ 150–200 words: about a paragraph, well inside embedding models' inputs
MAX_S = 60.0


@dataclass(frozen=True, kw_only=True)
class Chunk:
    """A span of a transcript's text with its times and the segments it came from: what a
    retrieval index embeds."""

    index: int
    start: float
    end: float
    text: str
    segment_ids: tuple[int, ...]


def chunk_segments(
    segments: Sequence[Segment], *, max_chars: int = MAX_CHARS, max_s: float = MAX_S
) -> list[Chunk]:
    chunks: list[Chunk] = []
    group: list[Segment] = []

    def close() -> None:
        if group:
            chunks.append(
                Chunk(
                    index=len(chunks),
                    start=group[0].start,
                    end=max(s.end for s in group),
                    text=clean_text(" ".join(s.text for s in group)),
                    segment_ids=tuple(s.id for s in group),
                )
            )
            group.clear()

    for segment in segments:
        if group:
            chars = sum(len(s.text) + 1 for s in group) + len(segment.text)
            too_long = chars > max_chars or segment.end - group[0].start > max_s
            if too_long or segment.speaker != group[-1].speaker:
                close()
        group.append(segment)
    close()
    return chunks
