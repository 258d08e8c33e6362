"""Speaker turns onto a transcript (pure).

Word timings cost a transcription a third more, and most segments never change speaker; so a
transcript may come without them, and :func:`needs_words` names the segments where two speakers
each hold a share of the time: only those are decoded again with word timings
(:func:`with_clip_words` puts the clips' segments in their place) before labelling.

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


#: A speaker holding less of a segment than this is not a reason to split it (seconds).
MIN_SHARE_S = 0.3


def needs_words(
    transcript: Transcript, turns: SpeakerTurns, *, min_share_s: float = MIN_SHARE_S
) -> list[int]:
    """Indices of the segments without word timings in which at least two speakers each
    overlap the segment by ``min_share_s`` or more: those must be split at a word boundary."""
    found = []
    for index, segment in enumerate(transcript.segments):
        if segment.words:
            continue
        shares: dict[str, float] = {}
        for turn in turns.turns:
            overlap = min(segment.end, turn.end) - max(segment.start, turn.start)
            if overlap > 0:
                shares[turn.speaker] = shares.get(turn.speaker, 0.0) + overlap
        if sum(share >= min_share_s for share in shares.values()) >= 2:
            found.append(index)
    return found


def with_clip_words(transcript: Transcript, clips: dict[int, Transcript]) -> Transcript:
    """``transcript`` with segment ``i`` replaced by the segments of ``clips[i]``, a transcript
    (with word timings) of that segment's audio alone, its times moved to the segment's place."""
    segments: list[Segment] = []
    for index, segment in enumerate(transcript.segments):
        clip = clips.get(index)
        if clip is None or not clip.segments:
            segments.append(segment)
            continue
        offset = segment.start

        def moved(t: float, offset: float = offset, end: float = segment.end) -> float:
            return min(end, t + offset)

        segments += [
            replace(
                piece,
                start=moved(piece.start),
                end=moved(piece.end),
                words=None
                if piece.words is None
                else tuple(replace(w, start=moved(w.start), end=moved(w.end)) for w in piece.words),
            )
            for piece in clip.segments
        ]
    result = build_transcript(
        segments=segments,
        duration=transcript.duration,
        language=transcript.language,
        language_probability=transcript.language_probability,
        task=transcript.task,
        metadata=transcript.metadata,
    )
    return replace(result, diarization=transcript.diarization)


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
    spans = _word_spans(segment.text, segment.words)
    pieces = []
    first = 0
    for i, (who, words) in enumerate(runs):
        last = first + len(words) - 1
        if spans is not None:
            text = segment.text[spans[first][0] : spans[last][1]]
        else:
            text = " ".join(w.word for w in words)
        pieces.append(
            replace(
                segment,
                start=segment.start if i == 0 else words[0].start,
                end=segment.end if i == len(runs) - 1 else words[-1].end,
                text=clean_text(text),
                words=tuple(words),
                tokens=(),  # a piece's tokens cannot be told apart from its neighbour's
                speaker=who,
            )
        )
        first = last + 1
    return pieces


def _word_spans(text: str, words: tuple[Word, ...]) -> list[tuple[int, int]] | None:
    """Where each word lies in ``text`` (so that a piece keeps the segment's own spelling and
    spacing, "lower-case" included); ``None`` when the words do not spell the text."""
    spans = []
    cursor = 0
    for word in words:
        at = text.find(word.word, cursor)
        if at < 0:
            return None
        spans.append((at, at + len(word.word)))
        cursor = at + len(word.word)
    return spans


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
