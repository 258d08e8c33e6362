"""Property tests: whatever an engine hands to ``build_transcript``, the result keeps DESIGN §2's
invariants, and its SRT and VTT renderings parse back with the reference libraries."""

from __future__ import annotations

import html
import math
import re
import unicodedata
from datetime import timedelta

import pytest
import srt
import webvtt
from hypothesis import example, given, settings
from hypothesis import strategies as st

from echoic.formats import to_srt, to_vtt
from echoic.types import Segment, Transcript, Word, build_transcript, clean_text

# Times as engines (and broken engines) report them: ordinary values, negative ones, values past
# the end of the audio, NaN and infinities, in any order.
times = st.one_of(
    st.floats(min_value=-5.0, max_value=120.0),
    st.floats(allow_nan=True, allow_infinity=True),
)
# Durations as decoders report them, to the millisecond (like build_transcript's times), NaN
# when a container lies, negative when a caller does arithmetic wrong.
ms_durations = st.one_of(
    st.integers(min_value=-1_000, max_value=100_000).map(lambda ms: ms / 1000),
    st.integers(min_value=0, max_value=10**9).map(lambda ms: ms / 1000),
    st.just(math.nan),
)
# Any float at all: sub-millisecond digits and infinities too.
any_durations = st.one_of(
    ms_durations,
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0004, 0.0016, 1.0005, 1.6875, math.inf]),
)
# Text with the characters that break transcripts and subtitles mixed into arbitrary unicode:
# C0/C1 controls, CR/LF and other line breaks, non-breaking space, subtitle syntax.
nasty_chars = st.sampled_from(
    [
        " ",
        "\t",
        "\n",
        "\r",
        "\x00",
        "\x1b",
        "\x7f",
        "\x85",
        "\u2028",
        "\u00a0",
        "-",
        ">",
        "-->",
        "<b>",
        "&",
    ]
)
texts = st.lists(st.one_of(st.characters(), nasty_chars), max_size=12).map("".join)

words = st.builds(
    Word,
    word=texts,
    start=times,
    end=times,
    probability=st.floats(allow_nan=True, allow_infinity=True),
)
segments = st.builds(
    Segment,
    id=st.integers(min_value=-3, max_value=1000),
    start=times,
    end=times,
    text=texts,
    words=st.none() | st.lists(words, max_size=4).map(tuple),
    speaker=st.none() | st.sampled_from(["SPEAKER_00", "SPEAKER_01"]),
)


@st.composite
def transcripts(draw: st.DrawFn) -> Transcript:
    raw = draw(st.lists(segments, max_size=8))
    return build_transcript(segments=raw, duration=draw(ms_durations), language="en")


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def _cue_ms(seconds: float) -> int:
    return round(seconds * 1000)


def _assert_invariants(raw: list[Segment], t: Transcript) -> None:
    assert math.isfinite(t.duration)
    assert t.duration >= 0.0
    # Nothing with text is lost, nothing empty is kept, order is the engine's.
    expected_texts = [clean_text(s.text) for s in raw if clean_text(s.text)]
    assert [s.text for s in t.segments] == expected_texts
    assert all(s.text for s in t.segments)
    assert [s.id for s in t.segments] == list(range(len(t.segments)))
    assert t.text == clean_text(" ".join(s.text for s in t.segments))

    starts = [s.start for s in t.segments]
    assert starts == sorted(starts)
    for seg in t.segments:
        assert 0.0 <= seg.start <= seg.end <= t.duration
        assert not _has_control(seg.text)
        assert seg.speaker is None or not _has_control(seg.speaker)
        if seg.words is None:
            continue
        word_starts = [w.start for w in seg.words]
        assert word_starts == sorted(word_starts)
        for w in seg.words:
            assert w.word
            assert not _has_control(w.word)
            assert seg.start <= w.start <= w.end <= seg.end
            assert 0.0 <= w.probability <= 1.0
    assert not _has_control(t.text)


@settings(max_examples=400, deadline=None)
@given(st.lists(segments, max_size=8), ms_durations)
def test_build_transcript_keeps_the_invariants(raw: list[Segment], duration: float) -> None:
    _assert_invariants(raw, build_transcript(segments=raw, duration=duration, language="en"))


@example(raw=[Segment(id=0, start=0.0, end=2.0, text="a")], duration=1.6875)
@example(raw=[Segment(id=0, start=0.0, end=math.inf, text="a")], duration=math.inf)
@settings(max_examples=400, deadline=None)
@given(st.lists(segments, max_size=8), any_durations)
def test_build_transcript_keeps_the_invariants_for_any_duration(
    raw: list[Segment], duration: float
) -> None:
    _assert_invariants(raw, build_transcript(segments=raw, duration=duration, language="en"))


@settings(max_examples=200, deadline=None)
@given(transcripts())
def test_srt_of_any_transcript_parses_back_one_cue_per_segment(t: Transcript) -> None:
    cues = list(srt.parse(to_srt(t)))

    assert len(cues) == len(t.segments)
    for n, (cue, seg) in enumerate(zip(cues, t.segments, strict=True), start=1):
        start_ms = _cue_ms(seg.start)
        assert cue.index == n
        assert cue.start == timedelta(milliseconds=start_ms)
        assert cue.end == timedelta(milliseconds=max(_cue_ms(seg.end), start_ms + 1))
        # SubRip has no escapes: any run of dashes before ">" is written "->".
        assert "-->" not in cue.content
        assert cue.content == re.sub(r"-+>", "->", seg.text)


@settings(max_examples=200, deadline=None)
@given(transcripts())
def test_vtt_of_any_transcript_parses_back_one_cue_per_segment(t: Transcript) -> None:
    captions = webvtt.from_string(to_vtt(t), strict=True).captions

    assert len(captions) == len(t.segments)
    for caption, seg in zip(captions, t.segments, strict=True):
        start_ms = _cue_ms(seg.start)
        assert caption.start_time.in_milliseconds() == start_ms
        assert caption.end_time.in_milliseconds() == max(_cue_ms(seg.end), start_ms + 1)
        # Escaped, the text survives exactly, "-->" and "<b>" included.
        assert html.unescape(caption.raw_text) == seg.text


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        pytest.param([(-0.2, 3)], -0.2, id="one segment"),
        pytest.param([(-0.1, 3), (-0.5, 1)], -0.2, id="weighted by tokens"),
        pytest.param([(-0.1, 3), (None, 2)], None, id="a segment without a score"),
        pytest.param([], None, id="no segments"),
    ],
)
def test_average_log_probability(
    scores: list[tuple[float | None, int]], expected: float | None
) -> None:
    segments = [
        Segment(id=i, start=i, end=i + 1, text="word", avg_logprob=lp, tokens=tuple(range(n)))
        for i, (lp, n) in enumerate(scores)
    ]
    transcript = build_transcript(segments=segments, duration=10.0, language="en")

    assert transcript.avg_logprob == (None if expected is None else pytest.approx(expected))
