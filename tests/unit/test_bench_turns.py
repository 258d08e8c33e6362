"""``echoic bench turns``: the pure scoring of end-of-turn policies at pauses."""

from __future__ import annotations

from pathlib import Path

import pytest

from echoic.bench.report import write_json
from echoic.bench.stream_metrics import Reference
from echoic.bench.turns import (
    Pause,
    Policy,
    TurnsResult,
    cue_counts,
    is_inside,
    load_pauses,
    reference_at,
    score,
)
from echoic.streaming.turn import TurnCue

REFS = (
    Reference(id="a", speech_start_s=0.5, speech_end_s=4.0, text="A"),
    Reference(id="b", speech_start_s=5.0, speech_end_s=9.0, text="B"),
)


@pytest.mark.parametrize(
    ("silence_start", "resumed", "reference", "inside"),
    [
        (2.0, 2.6, "a", True),  # a pause in the middle of a
        (3.98, 5.0, "a", False),  # the VAD's silence starts just before a's estimated end
        (4.1, 5.0, "a", False),  # the gap after a
        (6.0, 9.5, "b", False),  # b's end, the silence starts before its estimate: resumed after
        (4.97, 5.3, "b", True),  # b began (within the slack) and goes on
    ],
)
def test_where_a_pause_lies(
    silence_start: float, resumed: float, reference: str, inside: bool
) -> None:
    found = reference_at(silence_start, REFS)
    assert found is not None
    assert found.id == reference
    assert is_inside(resumed, found) is inside


def test_a_silence_before_any_reference_belongs_to_none() -> None:
    assert reference_at(0.1, REFS) is None


def pause(ref: str, duration: float, cue: TurnCue, *, inside: bool) -> Pause:
    return Pause(
        session="s",
        reference=ref,
        silence_start_s=1.0,
        duration_s=duration,
        inside=inside,
        text="",
        cue=cue,
    )


PAUSES = [
    pause("a", 0.40, TurnCue.SENTENCE_END, inside=True),  # a period mid-reference
    pause("a", 0.90, TurnCue.MID_SENTENCE, inside=True),  # "… and the"
    pause("a", 0.80, TurnCue.SENTENCE_END, inside=False),
    pause("b", 0.60, TurnCue.MID_SENTENCE, inside=False),  # ends on "and": a short gap
    pause("c", 1.20, TurnCue.UNKNOWN, inside=False),
]


@pytest.mark.parametrize(
    ("policy", "splits", "split_refs", "merges", "p50"),
    [
        ("450/450/450", 1, 1, 0, 450),  # silence alone: the long mid-sentence pause splits
        ("300/450/1200", 1, 1, 1, 450),  # the period at 0.4 s splits; the "and" gap merges
        ("450/450/1000", 0, 0, 1, 450),
        ("500/600/1200", 0, 0, 1, 600),
    ],
)
def test_score(policy: str, splits: int, split_refs: int, merges: int, p50: float) -> None:
    result = score(PAUSES, Policy.parse(policy))
    assert (result.splits, result.split_references, result.merges) == (splits, split_refs, merges)
    assert result.wait_p50_ms == p50


@pytest.mark.parametrize("text", ["450", "450/450", "a/b/c", "600/450/1200", "450/450/300"])
def test_bad_policies(text: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        Policy.parse(text)


def test_cue_counts() -> None:
    counts = cue_counts(PAUSES)
    assert counts["inside"] == {"sentence_end": 1, "unknown": 0, "mid_sentence": 1}
    assert counts["end"] == {"sentence_end": 1, "unknown": 1, "mid_sentence": 1}


def test_a_report_can_be_scored_again(tmp_path: Path) -> None:
    path = write_json(TurnsResult(model="tiny.en", sets={"dev": PAUSES}), tmp_path / "t.json")
    assert load_pauses(path) == {"dev": PAUSES}
