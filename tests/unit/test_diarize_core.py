"""Diarization's pure parts: speaker counts, windows, clustering and labels (synthetic data)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from echoic.diarize.cluster import cluster_embeddings
from echoic.diarize.labels import label_transcript, needs_words, with_clip_words
from echoic.diarize.segmentation import Span, plan_windows, turns_from_windows
from echoic.diarize.types import SpeakerCount, SpeakerTurns, Turn
from echoic.errors import InvalidParameterError
from echoic.types import Diarization, Segment, Transcript, Word, build_transcript


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"num_speakers": 0}, "num_speakers"),
        ({"min_speakers": -1}, "min_speakers"),
        ({"max_speakers": 33}, "max_speakers"),
        ({"min_speakers": 3, "max_speakers": 2}, "max_speakers"),
        ({"num_speakers": 5, "max_speakers": 4}, "num_speakers"),
        ({"num_speakers": 1, "min_speakers": 2}, "num_speakers"),
    ],
)
def test_bad_speaker_counts_name_their_field(fields: dict[str, int], param: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        SpeakerCount(**fields)
    assert caught.value.param == param


def test_speaker_count_bounds() -> None:
    assert SpeakerCount().bounds == (1, 32)
    assert SpeakerCount(num_speakers=3).bounds == (3, 3)
    assert SpeakerCount(min_speakers=2, max_speakers=4).bounds == (2, 4)


def test_short_regions_get_one_window_long_ones_are_covered_to_their_end() -> None:
    planned = plan_windows(
        [Span(0, 30), Span(100, 200), Span(300, 600)], length=160, hop=80, min_length=40
    )
    assert planned == [
        (1, Span(100, 200)),
        (2, Span(300, 460)),
        (2, Span(380, 540)),
        (2, Span(440, 600)),
    ]


def _voices(rng: np.random.Generator, groups: list[int], spread: float) -> npt.NDArray[np.float32]:
    """Unit vectors around one random centre per group, in the order given."""
    centres = rng.standard_normal((max(groups) + 1, 256))
    rows = centres[groups] + spread * rng.standard_normal((len(groups), 256))
    out: npt.NDArray[np.float32] = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(
        np.float32
    )
    return out


def test_clusters_are_found_and_named_by_first_appearance() -> None:
    groups = [2, 2, 2, 0, 0, 0, 2, 1, 1, 1, 1, 0]
    labels = cluster_embeddings(_voices(np.random.default_rng(1), groups, 0.3), SpeakerCount())
    names = {2: "SPEAKER_00", 0: "SPEAKER_01", 1: "SPEAKER_02"}
    assert labels == [names[g] for g in groups]


def test_one_voice_is_one_speaker_and_an_odd_window_is_not_a_speaker() -> None:
    rng = np.random.default_rng(2)
    embeddings = _voices(rng, [0] * 12, 0.3)
    embeddings[5] = _voices(rng, [0], 0.0)[0]  # one window unlike the rest (a cough)
    assert set(cluster_embeddings(embeddings, SpeakerCount())) == {"SPEAKER_00"}


def test_a_fixed_count_is_honoured_without_splitting_off_an_outlier() -> None:
    rng = np.random.default_rng(3)
    base, away = rng.standard_normal((2, 256))
    centres = np.stack([base, base + 0.5 * away])  # two voices closer than the threshold wants
    rows = centres[[0] * 8 + [1] * 8] + 0.05 * rng.standard_normal((16, 256))
    embeddings = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    embeddings[3] = -embeddings[3]  # and one window far from everything
    assert cluster_embeddings(embeddings, SpeakerCount()) == ["SPEAKER_00"] * 16
    labels = cluster_embeddings(embeddings, SpeakerCount(num_speakers=2))
    del labels[3]  # the outlier goes to whichever voice it is least unlike
    assert labels == ["SPEAKER_00"] * 7 + ["SPEAKER_01"] * 8
    bounded = cluster_embeddings(embeddings, SpeakerCount(min_speakers=2, max_speakers=3))
    del bounded[3]
    assert bounded == labels


def test_asking_for_more_speakers_than_windows_answers_with_what_there_is() -> None:
    embeddings = _voices(np.random.default_rng(4), [0, 1], 0.1)
    assert cluster_embeddings(embeddings, SpeakerCount(num_speakers=5)) == [
        "SPEAKER_00",
        "SPEAKER_01",
    ]
    assert cluster_embeddings(embeddings[:0], SpeakerCount()) == []


def test_turns_follow_the_nearest_window_and_short_runs_are_absorbed() -> None:
    regions = [Span(0, 400), Span(500, 520)]
    windows = [(0, Span(0, 160)), (0, Span(80, 240)), (0, Span(160, 320)), (0, Span(240, 400))]
    turns = turns_from_windows(regions, windows, ["A", "A", "B", "B"], min_turn=50)
    assert turns.turns == (
        Turn(start=0.0, end=2.0, speaker="A"),
        Turn(start=2.0, end=4.0, speaker="B"),
        Turn(start=5.0, end=5.2, speaker="B"),  # no window of its own: the nearest one's
    )
    flicker = turns_from_windows(regions[:1], windows, ["A", "B", "A", "A"], min_turn=100)
    assert flicker.turns == (Turn(start=0.0, end=4.0, speaker="A"),)
    assert turns_from_windows(regions, [], []) == SpeakerTurns()


def _words(*spec: tuple[str, float, float]) -> tuple[Word, ...]:
    return tuple(Word(word=w, start=s, end=e, probability=0.9) for w, s, e in spec)


def _transcript(*segments: Segment) -> Transcript:
    return build_transcript(segments=list(segments), duration=10.0, language="en")


def test_a_segment_is_split_where_the_speaker_changes() -> None:
    words = _words((" Hello?", 0.0, 0.5), (" Oh,", 1.0, 1.2), (" hello.", 1.2, 1.6))
    transcript = _transcript(
        Segment(id=0, start=0.0, end=1.7, text="Hello? Oh, hello.", words=words)
    )
    turns = SpeakerTurns(
        turns=(Turn(start=0.0, end=0.6, speaker="X"), Turn(start=0.9, end=2.0, speaker="Y"))
    )
    labelled = label_transcript(transcript, turns)
    assert [(s.speaker, s.text, s.start, s.end) for s in labelled.segments] == [
        ("SPEAKER_00", "Hello?", 0.0, 0.5),
        ("SPEAKER_01", "Oh, hello.", 1.0, 1.7),
    ]
    assert labelled.text == "Hello? Oh, hello."
    assert labelled.diarization == Diarization(enabled=True, speakers=2)


def test_segments_without_words_take_the_most_overlapping_speaker() -> None:
    transcript = _transcript(
        Segment(id=0, start=0.0, end=3.0, text="one"),
        Segment(id=1, start=3.2, end=3.4, text="two"),  # in a gap: the nearest turn
    )
    turns = SpeakerTurns(
        turns=(Turn(start=0.0, end=1.0, speaker="B"), Turn(start=1.0, end=3.1, speaker="A"))
    )
    labelled = label_transcript(transcript, turns)
    assert [s.speaker for s in labelled.segments] == ["SPEAKER_00", "SPEAKER_00"]
    assert labelled.diarization == Diarization(enabled=True, speakers=1)


def test_no_speech_means_no_speakers() -> None:
    empty = label_transcript(_transcript(), SpeakerTurns())
    assert empty.diarization == Diarization(enabled=True, speakers=0)
    lone = label_transcript(_transcript(Segment(id=0, start=0, end=1, text="hm")), SpeakerTurns())
    assert lone.segments[0].speaker is None


def test_only_segments_two_speakers_share_need_words() -> None:
    transcript = _transcript(
        Segment(id=0, start=0.0, end=2.0, text="alone"),
        Segment(id=1, start=2.0, end=4.0, text="shared by two"),
        Segment(id=2, start=4.0, end=5.0, text="a brush", words=_words((" a", 4.0, 4.2))),
        Segment(id=3, start=5.0, end=6.0, text="barely"),
    )
    turns = SpeakerTurns(
        turns=(
            Turn(start=0.0, end=3.0, speaker="A"),
            Turn(start=3.0, end=5.1, speaker="B"),  # 0.1 s into segment 3: not a share
            Turn(start=5.1, end=6.0, speaker="A"),
        )
    )
    assert needs_words(transcript, turns) == [1]
    assert needs_words(transcript, SpeakerTurns()) == []


def test_clips_with_words_take_their_segments_place() -> None:
    transcript = _transcript(
        Segment(id=0, start=0.0, end=2.0, text="alone"),
        Segment(id=1, start=2.0, end=4.0, text="shared by two"),
    )
    clip = _transcript(
        Segment(
            id=0,
            start=0.1,
            end=1.9,
            text="shared by two",
            words=_words((" shared", 0.1, 0.6), (" by", 1.1, 1.3), (" two", 1.4, 1.9)),
        )
    )
    merged = with_clip_words(transcript, {1: clip})
    assert [(s.text, s.start, s.end) for s in merged.segments] == [
        ("alone", 0.0, 2.0),
        ("shared by two", 2.1, 3.9),
    ]
    words = merged.segments[1].words
    assert words is not None
    assert [(w.start, w.end) for w in words] == [
        (2.1, 2.6),
        (3.1, 3.3),
        (3.4, 3.9),
    ]
    turns = SpeakerTurns(
        turns=(Turn(start=0.0, end=2.9, speaker="A"), Turn(start=3.0, end=4.0, speaker="B"))
    )
    labelled = label_transcript(merged, turns)
    assert [(s.speaker, s.text) for s in labelled.segments] == [
        ("SPEAKER_00", "alone"),
        ("SPEAKER_00", "shared"),
        ("SPEAKER_01", "by two"),
    ]


def test_pieces_keep_the_segments_own_spelling() -> None:
    words = _words(
        (" a", 0.0, 0.2), (" lower", 0.2, 0.5), ("-case", 0.5, 0.8), (" word.", 1.5, 1.9)
    )
    transcript = _transcript(
        Segment(id=0, start=0.0, end=2.0, text="a lower-case word.", words=words)
    )
    turns = SpeakerTurns(
        turns=(Turn(start=0.0, end=1.0, speaker="X"), Turn(start=1.2, end=2.0, speaker="Y"))
    )
    labelled = label_transcript(transcript, turns)
    assert [s.text for s in labelled.segments] == ["a lower-case", "word."]
    assert labelled.text == transcript.text
