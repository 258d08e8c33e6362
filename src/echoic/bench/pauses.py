"""Long pauses inside one utterance, at word boundaries: where to cut, and the cutting (pure).

A reader pauses at commas and between clauses; a live endpointer that only counts silence cuts
such a sentence into several finals. To measure that, a sentence is opened at one or two of its
word boundaries and a pause of the requested length is put in, the reference staying one
utterance with one text.

Where: word times come from a recognizer (``echoic.bench.alignment``), which places boundaries
to within a few tens of milliseconds, so the cut goes to the quietest 10 ms frame near the
boundary: between word *i*'s end and word *i+1*'s start, widened by :data:`SLACK_S` on each side
but never past the middle of either word; where even that frame is loud (the words run into each
other) the boundary is not used. Boundaries are ranked by the reader's own pause there
(the run of quiet frames around the cut, :data:`PUNCTUATION_BONUS_S` more after a comma or a
full stop), and chosen greedily with at least ``min_side_s`` of speech before the first cut,
after the last one, and between two cuts.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from echoic.bench.speech_edges import FRAME_S, FRAME_SAMPLES, Levels
from echoic.types import SAMPLE_RATE, Audio

SLACK_S = 0.1
PUNCTUATION_BONUS_S = 0.2
PUNCTUATION = ",;:.!?—–-)\"'"
FADE_SAMPLES = 80  # 5 ms ramps either side of a cut, so that it does not click


@dataclass(frozen=True, kw_only=True)
class TimedWord:
    word: str
    start_s: float
    end_s: float


@dataclass(frozen=True, kw_only=True)
class Cut:
    """A place to open an utterance: after word ``after`` (an index), at sample ``at``."""

    after: int
    word: str
    at: int
    #: The quiet frames (below the speech threshold) around the cut: the reader's own pause.
    quiet_s: float
    level_db: float
    punctuated: bool

    @property
    def at_s(self) -> float:
        return self.at / SAMPLE_RATE

    @property
    def score(self) -> float:
        return self.quiet_s + (PUNCTUATION_BONUS_S if self.punctuated else 0.0)


def candidate_cuts(
    words: Sequence[TimedWord],
    levels: Levels,
    threshold_db: float,
    *,
    speech_start_s: float,
    speech_end_s: float,
    min_side_s: float,
) -> list[Cut]:
    """One cut per word boundary with ``min_side_s`` of speech before and after it."""
    cuts: list[Cut] = []
    for index, (left, right) in enumerate(itertools.pairwise(words)):
        low_s = max(min(left.end_s, right.start_s) - SLACK_S, (left.start_s + left.end_s) / 2)
        high_s = min(max(left.end_s, right.start_s) + SLACK_S, (right.start_s + right.end_s) / 2)
        first = max(0, int(np.floor(low_s / FRAME_S)))
        end = min(len(levels), int(np.ceil(high_s / FRAME_S)))
        if end <= first:
            continue
        frame = first + int(np.argmin(levels[first:end]))  # the first of equally quiet frames
        quiet = _quiet_run(levels, frame, threshold_db)
        if not quiet:
            continue  # the words run into each other: no quiet frame to open them at
        at = frame * FRAME_SAMPLES + FRAME_SAMPLES // 2
        if at / SAMPLE_RATE - speech_start_s < min_side_s:
            continue
        if speech_end_s - at / SAMPLE_RATE < min_side_s:
            continue
        cuts.append(
            Cut(
                after=index,
                word=left.word.strip(),
                at=at,
                quiet_s=quiet * FRAME_S,
                level_db=float(levels[frame]),
                punctuated=left.word.strip()[-1:] in PUNCTUATION,
            )
        )
    return cuts


def _quiet_run(levels: Levels, frame: int, threshold_db: float) -> int:
    if levels[frame] > threshold_db:
        return 0
    first = frame
    while first > 0 and levels[first - 1] <= threshold_db:
        first -= 1
    end = frame + 1
    while end < len(levels) and levels[end] <= threshold_db:
        end += 1
    return end - first


def choose_cuts(candidates: Sequence[Cut], count: int, *, min_side_s: float) -> list[Cut]:
    """Up to ``count`` cuts, best first, ``min_side_s`` apart; returned in time order."""
    ranked = sorted(candidates, key=lambda c: (-c.score, c.level_db, c.after))
    chosen: list[Cut] = []
    for cut in ranked:
        if len(chosen) == count:
            break
        if all(abs(cut.at - c.at) >= min_side_s * SAMPLE_RATE for c in chosen):
            chosen.append(cut)
    return sorted(chosen, key=lambda c: c.at)


def insert_pauses(
    audio: Audio, cuts: Sequence[int], pauses: Sequence[int]
) -> tuple[Audio, list[tuple[int, int]]]:
    """``audio`` opened at sample positions ``cuts`` (ascending) with ``pauses[k]`` samples of
    digital silence at cut ``k`` (a noise bed goes on top later); with the pauses' spans in the
    new audio. The audio either side of a cut fades over :data:`FADE_SAMPLES`."""
    if len(cuts) != len(pauses):
        raise ValueError(f"{len(cuts)} cuts but {len(pauses)} pause lengths")
    if list(cuts) != sorted(cuts) or any(not 0 < c < len(audio) for c in cuts):
        raise ValueError("cuts must be ascending positions inside the audio")
    if any(p <= 0 for p in pauses):
        raise ValueError("pauses must be positive")
    pieces: list[Audio] = []
    spans: list[tuple[int, int]] = []
    bounds = [0, *cuts, len(audio)]
    position = 0
    for k, (first, end) in enumerate(itertools.pairwise(bounds)):
        piece = audio[first:end].astype(np.float32, copy=True)
        ramp = min(FADE_SAMPLES, len(piece) // 2)
        fade = np.linspace(0.0, 1.0, ramp + 2, dtype=np.float32)[1:-1]
        if k > 0 and ramp:
            piece[:ramp] *= fade
        if k < len(cuts) and ramp:
            piece[len(piece) - ramp :] *= fade[::-1]
        pieces.append(piece)
        position += len(piece)
        if k < len(cuts):
            pieces.append(np.zeros(pauses[k], dtype=np.float32))
            spans.append((position, position + pauses[k]))
            position += pauses[k]
    return np.concatenate(pieces), spans


def shifted(sample: int, spans: Sequence[tuple[int, int]]) -> int:
    """Where a sample of the original audio lies once the pauses at ``spans`` are in."""
    for first, end in spans:
        if sample >= first:
            sample += end - first
    return sample
