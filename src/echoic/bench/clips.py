"""A manifest utterance made ready to place in a session: its speech found, pauses put in."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from echoic.bench.alignment import Aligner
from echoic.bench.manifest import Utterance
from echoic.bench.pauses import candidate_cuts, choose_cuts, insert_pauses, shifted
from echoic.bench.session_layout import Clip, Pause, samples_of
from echoic.bench.speech_edges import frame_levels_db, speech_edges
from echoic.types import Audio

PAUSES_STREAM = 4  # the seed's random stream for pauses (assemble.py numbers the others)


@dataclass(frozen=True, kw_only=True)
class PauseDraw:
    """How pauses are drawn: ``per_utterance`` (least, most) of ``pauses_s`` (low, high) each,
    at least ``min_side_s`` of speech before, after and between them."""

    seed: int
    pauses_s: tuple[float, float]
    per_utterance: tuple[int, int] = (1, 2)
    min_side_s: float = 1.0

    def lengths(self, utterance_id: str) -> list[int]:
        """The pause lengths (samples) an utterance gets, best boundary first (fewer are used
        when it has fewer places to open); seeded by the utterance, not by its position."""
        key = int(hashlib.sha256(utterance_id.encode()).hexdigest()[:8], 16)
        rng = np.random.default_rng([self.seed, PAUSES_STREAM, key])
        least, most = self.per_utterance
        count = int(rng.integers(least, most + 1))
        return [samples_of(s) for s in rng.uniform(*self.pauses_s, size=count).tolist()]


def plain_clip(utterance: Utterance, audio: Audio) -> Clip:
    edges = speech_edges(audio)
    return Clip(utterance=utterance, audio=audio, speech_start=edges.start, speech_end=edges.end)


def paused_clip(
    utterance: Utterance, audio: Audio, aligner: Aligner, draw: PauseDraw
) -> Clip | None:
    """The utterance with its pauses in; ``None`` when it has no boundary to open (too short:
    then the model is not even asked for its words)."""
    edges = speech_edges(audio)
    if edges.end_s - edges.start_s < 2 * draw.min_side_s:
        return None
    candidates = candidate_cuts(
        aligner(utterance, audio),
        frame_levels_db(audio),
        edges.threshold_db,
        speech_start_s=edges.start_s,
        speech_end_s=edges.end_s,
        min_side_s=draw.min_side_s,
    )
    lengths = draw.lengths(utterance.id)
    cuts = choose_cuts(candidates, len(lengths), min_side_s=draw.min_side_s)
    if not cuts:
        return None
    opened, spans = insert_pauses(audio, [c.at for c in cuts], lengths[: len(cuts)])
    return Clip(
        utterance=utterance,
        audio=opened,
        speech_start=shifted(edges.start, spans),
        speech_end=shifted(edges.end, spans),
        pauses=tuple(Pause(first=a, end=b, cut=c) for (a, b), c in zip(spans, cuts, strict=True)),
    )
