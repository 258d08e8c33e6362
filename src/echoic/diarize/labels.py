"""Speaker turns onto a transcript (pure).

Each word takes the speaker whose turns overlap it most (the nearest turn when none does: word
times and speech regions come from different models and may leave a word in a gap). A segment
whose words change speaker is split at that word boundary; a segment without word timings takes
the speaker who overlaps it most, whole. Speakers are renumbered in order of first appearance in
the transcript, so the labels are ``SPEAKER_00``, ``SPEAKER_01``, … with no gaps, and the
transcript's ``diarization`` block counts them (0 when nobody spoke).
"""

from __future__ import annotations

import bisect
from dataclasses import replace

from echoic.diarize.types import SpeakerTurns, Turn, speaker_name
from echoic.types import Diarization, Segment, Transcript, Word, build_transcript, clean_text


def label_transcript(transcript: Transcript, turns: SpeakerTurns) -> Transcript:
    """``transcript`` with a speaker on every segment (split where the speaker changes)."""
    finder = _TurnFinder(turns.turns)
    pieces: list[Segment] = []
    for segment in transcript.segments:
        pieces += _split(segment, finder)
    names: dict[str, str] = {}
    for piece in pieces:
        if piece.speaker is not None:
            names.setdefault(piece.speaker, speaker_name(len(names)))
    renamed = [
        replace(p, speaker=names[p.speaker] if p.speaker is not None else None) for p in pieces
    ]
    labelled = build_transcript(
        segments=renamed,
        duration=transcript.duration,
        language=transcript.language,
        language_probability=transcript.language_probability,
        task=transcript.task,
        metadata=transcript.metadata,
    )
    return replace(labelled, diarization=Diarization(enabled=True, speakers=len(names)))


def _split(segment: Segment, finder: _TurnFinder) -> list[Segment]:
    if not segment.words:
        return [replace(segment, speaker=finder.speaker(segment.start, segment.end))]
    runs: list[tuple[str | None, list[Word]]] = []
    for word in segment.words:
        who = finder.speaker(word.start, word.end)
        if runs and runs[-1][0] == who:
            runs[-1][1].append(word)
        else:
            runs.append((who, [word]))
    if len(runs) == 1:
        return [replace(segment, speaker=runs[0][0])]
    pieces = []
    for i, (who, words) in enumerate(runs):
        pieces.append(
            replace(
                segment,
                start=segment.start if i == 0 else words[0].start,
                end=segment.end if i == len(runs) - 1 else words[-1].end,
                text=clean_text(
                    "".join(w.word if w.word[:1].isspace() else f" {w.word}" for w in words)
                ),
                words=tuple(words),
                tokens=(),  # a piece's tokens cannot be told apart from its neighbour's
                speaker=who,
            )
        )
    return pieces


class _TurnFinder:
    def __init__(self, turns: tuple[Turn, ...]) -> None:
        self._turns = sorted(turns, key=lambda t: t.start)  # never overlapping (SpeakerTurns)
        self._starts = [t.start for t in self._turns]
        self._ends = [t.end for t in self._turns]

    def speaker(self, start: float, end: float) -> str | None:
        """The speaker overlapping ``[start, end]`` most, else the nearest in time."""
        if not self._turns:
            return None
        # Turns overlapping [start, end]: those ending after ``start`` and starting before ``end``.
        lo = bisect.bisect_right(self._ends, start)
        hi = bisect.bisect_left(self._starts, end)
        best: tuple[float, str] | None = None
        for turn in self._turns[lo:hi]:
            overlap = min(end, turn.end) - max(start, turn.start)
            if overlap > 0 and (best is None or overlap > best[0]):
                best = (overlap, turn.speaker)
        if best is not None:
            return best[1]
        middle = (start + end) / 2
        nearest = min(
            self._turns[max(0, lo - 1) : lo + 1],
            key=lambda t: max(t.start - middle, middle - t.end, 0.0),
        )
        return nearest.speaker
