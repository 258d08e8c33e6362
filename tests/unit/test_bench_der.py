"""RTTM and the diarization error rate (pyannote.metrics with the NIST collar)."""

from __future__ import annotations

from pathlib import Path

import pytest

from echoic.bench.der import DerScore, score_der, speaker_count
from echoic.bench.rttm import format_rttm, parse_rttm, read_rttm
from echoic.diarize.types import Turn


def turns(*spans: tuple[float, float, str]) -> list[Turn]:
    return [Turn(start=a, end=b, speaker=s) for a, b, s in spans]


#: Two speakers, no overlap: A 0-10 s, B 12-20 s of a 20 s file.
TWO = turns((0.0, 10.0, "A"), (12.0, 20.0, "B"))


# --- RTTM ----------------------------------------------------------------------------------


def test_rttm_round_trip_keeps_turns_to_the_millisecond() -> None:
    original = turns((0.5, 2.0, "speaker90"), (1.75, 3.1234, "speaker91"))
    text = format_rttm("clip", original)
    assert text.splitlines()[0] == "SPEAKER clip 1 0.500 1.500 <NA> <NA> speaker90 <NA> <NA>"
    (back,) = parse_rttm(text).values()
    assert [(t.start, round(t.end, 3), t.speaker) for t in back] == [
        (0.5, 2.0, "speaker90"),
        (1.75, 3.123, "speaker91"),
    ]


def test_rttm_sorts_by_time_skips_other_lines_and_names_a_bad_line(tmp_path: Path) -> None:
    text = (
        ";; a comment\n"
        "SPKR-INFO x 1 <NA> <NA> <NA> unknown B <NA> <NA>\n"
        "SPEAKER x 1 4.0 1.0 <NA> <NA> B <NA> <NA>\n"
        "SPEAKER x 1 1.0 2.0 <NA> <NA> A <NA> <NA>\n"
    )
    path = tmp_path / "x.rttm"
    path.write_text(text)
    assert read_rttm(path) == tuple(turns((1.0, 3.0, "A"), (4.0, 5.0, "B")))
    path.write_text(text + "SPEAKER x 1 soon 1.0 <NA> <NA> C <NA> <NA>\n")
    with pytest.raises(ValueError, match=r"x\.rttm:5: not an RTTM SPEAKER line"):
        read_rttm(path)
    path.write_text(text + "SPEAKER y 1 1.0 1.0 <NA> <NA> C <NA> <NA>\n")
    with pytest.raises(ValueError, match="turns of 2 files"):
        read_rttm(path)


def test_rttm_file_ids_have_no_spaces() -> None:
    with pytest.raises(ValueError, match="no spaces"):
        format_rttm("two words", TWO)


# --- DER -----------------------------------------------------------------------------------


def test_a_perfect_hypothesis_scores_zero() -> None:
    score = score_der(TWO, TWO, duration_s=20.0)
    assert score.der == 0.0
    # The collar takes the 0.25 s of speech inside each of the 4 reference boundaries.
    assert score.reference_s == pytest.approx(18.0 - 4 * 0.25)


def test_labels_need_not_match_the_reference() -> None:
    swapped = turns((0.0, 10.0, "SPEAKER_01"), (12.0, 20.0, "SPEAKER_00"))
    assert score_der(TWO, swapped, duration_s=20.0).der == 0.0


def test_one_speaker_for_two_is_confusion_of_the_smaller_one() -> None:
    one = turns((0.0, 20.0, "X"))
    score = score_der(TWO, one, duration_s=20.0)
    # Scored: A 0.25-9.75 (9.5 s), B 12.25-19.75 (7.5 s); X maps onto A, so B is confused, and
    # X's speech in the gap outside the collars (10.25-11.75) is a false alarm.
    assert score.reference_s == pytest.approx(17.0)
    assert score.confusion_s == pytest.approx(7.5)
    assert score.false_alarm_s == pytest.approx(1.5)
    assert score.missed_s == pytest.approx(0.0)
    assert score.der == pytest.approx(9.0 / 17.0)


def test_the_collar_forgives_a_change_point_placed_a_little_late() -> None:
    touching = turns((0.0, 10.0, "A"), (10.0, 20.0, "B"))
    late = turns((0.0, 10.2, "A"), (10.2, 20.0, "B"))
    assert score_der(touching, late, duration_s=20.0).der == 0.0
    strict = score_der(touching, late, duration_s=20.0, collar_s=0.0)
    assert strict.confusion_s == pytest.approx(0.2)
    assert strict.der == pytest.approx(0.01)


def test_speech_missed_and_speech_made_up_anywhere_in_the_file() -> None:
    hypothesis = turns((0.0, 5.0, "A"), (12.0, 20.0, "B"), (22.0, 24.0, "B"))
    score = score_der(TWO, hypothesis, duration_s=25.0)
    assert score.missed_s == pytest.approx(5.0 - 0.25)  # 5.0-9.75 (the collar keeps 5.0's)
    assert score.false_alarm_s == pytest.approx(2.0)  # after the reference ends: still scored
    assert score.confusion_s == 0.0


def test_an_overlap_is_scored_and_one_voice_at_a_time_misses_half_of_it() -> None:
    overlapping = turns((0.0, 10.0, "A"), (6.0, 12.0, "B"))
    single = turns((0.0, 6.0, "A"), (6.0, 12.0, "B"))
    score = score_der(overlapping, single, duration_s=12.0)
    assert score.missed_s == pytest.approx(4.0 - 0.25 * 2)  # A's 6-10 under B, collars off
    assert score.confusion_s == 0.0


def test_set_totals_weigh_files_by_their_speech() -> None:
    small = DerScore(reference_s=10.0, missed_s=1.0, false_alarm_s=0.0, confusion_s=0.0)
    large = DerScore(reference_s=90.0, missed_s=0.0, false_alarm_s=0.0, confusion_s=0.0)
    total = DerScore.total([small, large])
    assert total.der == pytest.approx(0.01)
    assert total.to_dict()["missed"] == 0.01
    assert DerScore.total([]).der == 0.0


def test_speaker_count_and_bad_duration() -> None:
    assert speaker_count(TWO) == 2
    assert speaker_count([]) == 0
    with pytest.raises(ValueError, match="duration_s"):
        score_der(TWO, TWO, duration_s=0.0)
