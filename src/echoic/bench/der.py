"""Diarization error rate of one file, by ``pyannote.metrics`` (the reference implementation).

DER = (missed speech + false alarm + speaker confusion) / reference speech, after the optimal
one-to-one mapping of hypothesis speakers onto reference speakers (so labels need not match:
``SPEAKER_00`` may be ``speaker90``). Scored with the NIST forgiveness collar: ``collar_s`` = 0.5
removes 0.25 s on each side of every reference boundary from the evaluation, because nobody can
place a turn change to the frame. Overlapped speech is scored (``skip_overlap=False``): a
one-speaker-at-a-time hypothesis misses the second voice. The evaluated span is the whole file,
so speech found where the reference has none counts as false alarm wherever it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pyannote.core import Annotation, Segment, Timeline
from pyannote.metrics.diarization import DiarizationErrorRate

from echoic.diarize.types import Turn

#: The NIST collar (seconds in all, centred on each reference boundary).
COLLAR_S = 0.5


def annotation(turns: Iterable[Turn], uri: str = "file") -> Annotation:
    """``turns`` as a pyannote ``Annotation`` (one track per turn: overlaps stay)."""
    result = Annotation(uri=uri)
    for index, turn in enumerate(turns):
        if turn.end > turn.start:
            result[Segment(turn.start, turn.end), index] = turn.speaker
    return result


@dataclass(frozen=True, kw_only=True)
class DerScore:
    """Seconds of reference speech scored and of each kind of error (collar removed)."""

    reference_s: float
    missed_s: float
    false_alarm_s: float
    confusion_s: float

    @property
    def errors_s(self) -> float:
        return self.missed_s + self.false_alarm_s + self.confusion_s

    @property
    def der(self) -> float:
        return self.errors_s / self.reference_s if self.reference_s > 0 else 0.0

    def share(self, seconds: float) -> float:
        """``seconds`` as a fraction of the reference speech (a component of the DER)."""
        return seconds / self.reference_s if self.reference_s > 0 else 0.0

    @classmethod
    def total(cls, scores: Iterable[DerScore]) -> DerScore:
        """Over a set: errors and speech summed, so long files weigh more (NIST's way)."""
        scores = list(scores)
        return cls(
            reference_s=sum(s.reference_s for s in scores),
            missed_s=sum(s.missed_s for s in scores),
            false_alarm_s=sum(s.false_alarm_s for s in scores),
            confusion_s=sum(s.confusion_s for s in scores),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "der": round(self.der, 4),
            "missed": round(self.share(self.missed_s), 4),
            "false_alarm": round(self.share(self.false_alarm_s), 4),
            "confusion": round(self.share(self.confusion_s), 4),
            "reference_s": round(self.reference_s, 3),
            "missed_s": round(self.missed_s, 3),
            "false_alarm_s": round(self.false_alarm_s, 3),
            "confusion_s": round(self.confusion_s, 3),
        }


def score_der(
    reference: Sequence[Turn],
    hypothesis: Sequence[Turn],
    *,
    duration_s: float,
    collar_s: float = COLLAR_S,
) -> DerScore:
    """DER components of ``hypothesis`` against ``reference`` over ``[0, duration_s]``."""
    if duration_s <= 0:
        raise ValueError(f"duration_s must be positive, got {duration_s}")
    metric = DiarizationErrorRate(collar=collar_s, skip_overlap=False)
    uem = Timeline([Segment(0.0, duration_s)])
    components = metric(annotation(reference), annotation(hypothesis), uem=uem, detailed=True)
    return DerScore(
        reference_s=float(components["total"]),
        missed_s=float(components["missed detection"]),
        false_alarm_s=float(components["false alarm"]),
        confusion_s=float(components["confusion"]),
    )


def speaker_count(turns: Iterable[Turn]) -> int:
    return len({t.speaker for t in turns})
