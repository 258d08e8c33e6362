"""Response formats: SRT and VTT parse back with the reference libraries (``srt``, ``webvtt-py``),
and the JSON bodies have OpenAI's shape plus echoic's fields."""

from __future__ import annotations

import html
import json
import math
from datetime import timedelta
from typing import Any

import pytest
import srt
import webvtt

from echoic.formats import format_transcript, to_srt, to_vtt, transcript_to_dict
from echoic.types import (
    ResponseFormat,
    Segment,
    Task,
    Transcript,
    TranscriptMetadata,
    Word,
    build_transcript,
    clean_text,
)


def _seg(start: float, end: float, text: str, **extra: Any) -> Segment:
    return Segment(id=0, start=start, end=end, text=text, **extra)


def _transcript(*segments: Segment, duration: float = 60.0) -> Transcript:
    return build_transcript(segments=list(segments), duration=duration, language="en")


def _raw(*segments: Segment, duration: float = 60.0) -> Transcript:
    """A transcript as a careless engine might build it, without build_transcript's cleaning."""
    return Transcript(
        text=" ".join(s.text for s in segments),
        language="en",
        duration=duration,
        segments=segments,
    )


def _parse_srt(body: str) -> list[srt.Subtitle]:
    return list(srt.parse(body))


def _parse_vtt(body: str) -> list[webvtt.Caption]:
    return list(webvtt.from_string(body, strict=True).captions)


def _ms(value: int) -> timedelta:
    return timedelta(milliseconds=value)


HELLO = _transcript(
    _seg(0.0, 1.5, " Hello there."),
    _seg(1.5, 3.25, " How are you?"),
    _seg(4.0, 6.789, " Fine, thanks."),
    duration=7.0,
)

# --- SRT and VTT ------------------------------------------------------------------------------


def test_srt_is_numbered_cues_with_comma_milliseconds() -> None:
    assert to_srt(HELLO) == (
        "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n"
        "2\n00:00:01,500 --> 00:00:03,250\nHow are you?\n\n"
        "3\n00:00:04,000 --> 00:00:06,789\nFine, thanks.\n\n"
    )


def test_vtt_has_the_header_and_dot_milliseconds() -> None:
    assert to_vtt(HELLO) == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:01.500\nHello there.\n\n"
        "00:00:01.500 --> 00:00:03.250\nHow are you?\n\n"
        "00:00:04.000 --> 00:00:06.789\nFine, thanks.\n\n"
    )


def test_srt_parses_back_with_times_and_texts() -> None:
    cues = _parse_srt(to_srt(HELLO))

    assert [c.index for c in cues] == [1, 2, 3]
    assert [(c.start, c.end) for c in cues] == [
        (_ms(0), _ms(1500)),
        (_ms(1500), _ms(3250)),
        (_ms(4000), _ms(6789)),
    ]
    assert [c.content for c in cues] == ["Hello there.", "How are you?", "Fine, thanks."]


def test_vtt_parses_back_with_times_and_texts() -> None:
    captions = _parse_vtt(to_vtt(HELLO))

    assert [(c.start_time.in_milliseconds(), c.end_time.in_milliseconds()) for c in captions] == [
        (0, 1500),
        (1500, 3250),
        (4000, 6789),
    ]
    assert [c.text for c in captions] == ["Hello there.", "How are you?", "Fine, thanks."]


# (segment text, SRT cue text, VTT cue text as written). SRT has no escapes, so "-->" becomes "->";
# VTT escapes "&", "<" and ">", which keeps every text exactly.
TRICKY = [
    ("a --> b", "a -> b", "a --&gt; b"),
    (
        "1\n00:00:01,000 --> 00:00:02,000\nfake",
        "1 00:00:01,000 -> 00:00:02,000 fake",
        "1 00:00:01,000 --&gt; 00:00:02,000 fake",
    ),
    (
        "arrows ---> and -- > and ->",
        "arrows -> and -- > and ->",
        "arrows ---&gt; and -- &gt; and -&gt;",
    ),
    (
        "<b>bold</b> <c.red>x</c>",
        "<b>bold</b> <c.red>x</c>",
        "&lt;b&gt;bold&lt;/b&gt; &lt;c.red&gt;x&lt;/c&gt;",
    ),
    ("Tom & Jerry &amp; &lt;", "Tom & Jerry &amp; &lt;", "Tom &amp; Jerry &amp;amp; &amp;lt;"),
    ("line one\nline two", "line one line two", "line one line two"),
    ("para one\n\n\npara two\r\n", "para one para two", "para one para two"),
    ("tab\tand\x00nul\x1bescape\u2028sep", "tab and nul escape sep", "tab and nul escape sep"),
    ("NOTE not a comment", "NOTE not a comment", "NOTE not a comment"),
    ("café 日本語 🎤 Ünïcödé", "café 日本語 🎤 Ünïcödé", "café 日本語 🎤 Ünïcödé"),
]


@pytest.mark.parametrize(("text", "srt_text", "vtt_raw"), TRICKY)
def test_tricky_texts_survive_both_formats(text: str, srt_text: str, vtt_raw: str) -> None:
    t = _raw(_seg(1.0, 2.0, text), _seg(2.0, 3.0, "after"))

    cues = _parse_srt(to_srt(t))
    assert [c.content for c in cues] == [srt_text, "after"]
    assert [c.start for c in cues] == [_ms(1000), _ms(2000)]

    captions = _parse_vtt(to_vtt(t))
    assert [c.raw_text for c in captions] == [vtt_raw, "after"]
    assert [c.start_time.in_milliseconds() for c in captions] == [1000, 2000]
    assert html.unescape(vtt_raw) == clean_text(text)


@pytest.mark.parametrize(
    ("seconds", "srt_time", "vtt_time"),
    [
        (0.0, "00:00:00,000", "00:00:00.000"),
        (59.999, "00:00:59,999", "00:00:59.999"),
        (3599.5, "00:59:59,500", "00:59:59.500"),
        (36_000.25, "10:00:00,250", "10:00:00.250"),
        (45_296.789, "12:34:56,789", "12:34:56.789"),
        (360_000.001, "100:00:00,001", "100:00:00.001"),
    ],
)
def test_long_times_keep_millisecond_precision(
    seconds: float, srt_time: str, vtt_time: str
) -> None:
    t = _transcript(_seg(seconds, seconds + 1.0, "late"), duration=seconds + 2.0)
    expected_ms = round(seconds * 1000)

    srt_body = to_srt(t)
    assert f"\n{srt_time} --> " in srt_body
    (cue,) = _parse_srt(srt_body)
    assert (cue.start, cue.end) == (_ms(expected_ms), _ms(expected_ms + 1000))

    vtt_body = to_vtt(t)
    assert f"\n{vtt_time} --> " in vtt_body
    (caption,) = _parse_vtt(vtt_body)
    assert caption.start_time.in_milliseconds() == expected_ms
    assert caption.end_time.in_milliseconds() == expected_ms + 1000


@pytest.mark.parametrize(
    ("start", "end", "expected_ms"),
    [
        (1.0, 1.0, (1000, 1001)),  # zero length
        (2.0, 1.0, (2000, 2001)),  # reversed
        (1.0, 1.0004, (1000, 1001)),  # rounds to zero length
        (-3.0, 0.5, (0, 500)),  # before the start
        (math.nan, math.nan, (0, 1)),
        (math.inf, math.inf, (359_999_999_999, 360_000_000_000)),
    ],
)
def test_every_cue_lasts_at_least_a_millisecond(
    start: float, end: float, expected_ms: tuple[int, int]
) -> None:
    t = _raw(_seg(start, end, "x"))

    (cue,) = _parse_srt(to_srt(t))
    assert (cue.start, cue.end) == (_ms(expected_ms[0]), _ms(expected_ms[1]))
    (caption,) = _parse_vtt(to_vtt(t))
    assert (caption.start_time.in_milliseconds(), caption.end_time.in_milliseconds()) == (
        expected_ms
    )


def test_empty_transcript_is_a_valid_empty_file() -> None:
    t = _transcript(duration=5.0)

    assert to_srt(t) == ""
    assert _parse_srt(to_srt(t)) == []
    assert to_vtt(t) == "WEBVTT\n\n"
    assert _parse_vtt(to_vtt(t)) == []


def test_segments_without_text_get_no_cue_and_numbering_stays_dense() -> None:
    t = _raw(_seg(0.0, 1.0, "one"), _seg(1.0, 2.0, " \n\x00 "), _seg(2.0, 3.0, "two"))

    cues = _parse_srt(to_srt(t))
    assert [(c.index, c.content) for c in cues] == [(1, "one"), (2, "two")]
    assert [c.text for c in _parse_vtt(to_vtt(t))] == ["one", "two"]


# --- json and text ----------------------------------------------------------------------------


def test_json_is_text_and_duration_usage() -> None:
    t = _transcript(_seg(0.0, 2.0, "Hi", tokens=(50364, 2421, 50464)), duration=2.2)

    body, media_type = format_transcript(t, ResponseFormat.JSON)

    assert media_type == "application/json"
    assert json.loads(body) == {
        "text": "Hi",
        "usage": {"type": "duration", "seconds": 3, "duration_ms": 2200, "tokens": 3},
    }


def test_json_keeps_unicode_unescaped() -> None:
    body, _ = format_transcript(_transcript(_seg(0.0, 1.0, "naïve 日本")), ResponseFormat.JSON)

    assert "naïve 日本" in body
    assert json.loads(body)["text"] == "naïve 日本"


def test_text_is_the_transcript_and_a_newline() -> None:
    assert format_transcript(HELLO, ResponseFormat.TEXT) == (
        "Hello there. How are you? Fine, thanks.\n",
        "text/plain; charset=utf-8",
    )
    assert format_transcript(_transcript(), ResponseFormat.TEXT)[0] == "\n"


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [
        (ResponseFormat.SRT, "application/x-subrip; charset=utf-8"),
        (ResponseFormat.VTT, "text/vtt; charset=utf-8"),
        (ResponseFormat.VERBOSE_JSON, "application/json"),
    ],
)
def test_subtitle_and_verbose_media_types(fmt: ResponseFormat, media_type: str) -> None:
    body, got = format_transcript(HELLO, fmt)

    assert got == media_type
    assert (
        body
        == {
            ResponseFormat.SRT: to_srt(HELLO),
            ResponseFormat.VTT: to_vtt(HELLO),
            ResponseFormat.VERBOSE_JSON: json.dumps(
                transcript_to_dict(HELLO, include_words=False), ensure_ascii=False
            ),
        }[fmt]
    )


def test_format_accepts_the_wire_string() -> None:
    assert format_transcript(HELLO, ResponseFormat("srt")) == format_transcript(
        HELLO, ResponseFormat.SRT
    )


# --- verbose_json -----------------------------------------------------------------------------

WORDS = (
    Word(word="Hello", start=0.1, end=0.5, probability=0.9),
    Word(word="there.", start=0.6, end=1.2, probability=0.8),
)
RICH = build_transcript(
    segments=[
        Segment(
            id=7,
            start=0.0,
            end=1.5,
            text=" Hello there.",
            confidence=0.85,
            avg_logprob=-0.16,
            no_speech_prob=0.01,
            compression_ratio=1.1,
            temperature=0.0,
            tokens=(50364, 2425, 456, 13),
            words=WORDS,
        ),
        Segment(
            id=8,
            start=1.5,
            end=2.5,
            text=" Bye.",
            confidence=0.7,
            avg_logprob=-0.35,
            no_speech_prob=0.02,
            compression_ratio=0.8,
            temperature=0.2,
            tokens=(50439, 4621, 13),
            words=(Word(word="Bye.", start=1.6, end=2.0, probability=0.7),),
        ),
    ],
    duration=2.75,
    language="en",
    language_probability=0.98,
    metadata=TranscriptMetadata(
        model="base", compute_type="int8", queue_latency_ms=3, processing_ms=812
    ),
)

OPENAI_SEGMENT_TYPES: dict[str, type | tuple[type, ...]] = {
    "id": int,
    "seek": int,
    "start": float,
    "end": float,
    "text": str,
    "tokens": list,
    "temperature": float,
    "avg_logprob": float,
    "compression_ratio": float,
    "no_speech_prob": float,
}


def _verbose(t: Transcript, *, include_words: bool = False) -> dict[str, Any]:
    body, _ = format_transcript(t, ResponseFormat.VERBOSE_JSON, include_words=include_words)
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def test_verbose_json_has_openais_shape() -> None:
    body = _verbose(RICH, include_words=True)

    assert body["task"] == "transcribe"
    assert body["language"] == "en"  # a code, where OpenAI writes "english" (see echoic.formats)
    assert body["duration"] == 2.75
    assert body["text"] == "Hello there. Bye."
    assert [type(s) for s in body["segments"]] == [dict, dict]
    for seg in body["segments"]:
        for key, kind in OPENAI_SEGMENT_TYPES.items():
            assert isinstance(seg[key], kind), key
        assert all(isinstance(token, int) for token in seg["tokens"])
    assert body["usage"] == {"type": "duration", "seconds": 3, "duration_ms": 2750, "tokens": 7}
    assert body["words"] == [
        {"word": "Hello", "start": 0.1, "end": 0.5, "probability": 0.9},
        {"word": "there.", "start": 0.6, "end": 1.2, "probability": 0.8},
        {"word": "Bye.", "start": 1.6, "end": 2.0, "probability": 0.7},
    ]


def test_verbose_json_segment_content() -> None:
    first, second = _verbose(RICH, include_words=True)["segments"]

    assert first == {
        "id": 0,
        "seek": 0,
        "start": 0.0,
        "end": 1.5,
        "text": "Hello there.",
        "tokens": [50364, 2425, 456, 13],
        "temperature": 0.0,
        "avg_logprob": -0.16,
        "compression_ratio": 1.1,
        "no_speech_prob": 0.01,
        "confidence": 0.85,
        "speaker": None,
        "words": [
            {"word": "Hello", "start": 0.1, "end": 0.5, "probability": 0.9},
            {"word": "there.", "start": 0.6, "end": 1.2, "probability": 0.8},
        ],
    }
    assert (second["id"], second["start"], second["end"], second["temperature"]) == (
        1,
        1.5,
        2.5,
        0.2,
    )


def test_verbose_json_has_echoics_fields() -> None:
    body = _verbose(RICH)

    assert body["language_probability"] == 0.98
    assert body["diarization"] == {"enabled": False, "speakers": None}
    assert body["metadata"] == {
        "provider": "local",
        "engine": "faster-whisper",
        "model": "base",
        "device": "cpu",
        "compute_type": "int8",
        "queue_latency_ms": 3,
        "processing_ms": 812,
        "fallback": None,
        "batched": False,
    }


def test_verbose_json_without_words_has_no_words_anywhere() -> None:
    body = _verbose(RICH, include_words=False)

    assert "words" not in body
    assert all("words" not in seg for seg in body["segments"])
    assert len(body["segments"]) == 2


def test_words_requested_but_not_produced_are_null_not_empty() -> None:
    t = _transcript(_seg(0.0, 1.0, "no word timings"))

    body = _verbose(t, include_words=True)

    assert body["words"] is None
    assert body["segments"][0]["words"] is None


def test_silent_file_has_zero_segments_and_zero_words() -> None:
    t = build_transcript(segments=[], duration=3.0, language=None)

    assert _verbose(t, include_words=True) | {"metadata": None} == {
        "task": "transcribe",
        "language": None,
        "language_probability": None,
        "duration": 3.0,
        "text": "",
        "segments": [],
        "words": [],
        "diarization": {"enabled": False, "speakers": None},
        "usage": {"type": "duration", "seconds": 3, "duration_ms": 3000, "tokens": 0},
        "metadata": None,
    }


def test_word_granularity_alone_leaves_segments_out() -> None:
    body = transcript_to_dict(RICH, include_words=True, include_segments=False)

    assert "segments" not in body
    assert [w["word"] for w in body["words"]] == ["Hello", "there.", "Bye."]


def test_unknown_statistics_are_null_and_the_body_is_strict_json() -> None:
    t = _raw(
        _seg(0.0, 1.0, "a", avg_logprob=math.nan, compression_ratio=math.inf, confidence=None),
        duration=math.nan,
    )

    body, _ = format_transcript(t, ResponseFormat.VERBOSE_JSON)
    # Python's json would accept NaN; a strict parser (browsers, other languages) would not.
    parsed = json.loads(body, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))

    seg = parsed["segments"][0]
    assert (seg["avg_logprob"], seg["compression_ratio"], seg["confidence"]) == (None, None, None)
    assert (seg["temperature"], seg["no_speech_prob"]) == (None, None)
    assert parsed["duration"] == 0.0
    assert parsed["usage"]["seconds"] == 0


def test_speakers_of_an_undiarized_transcript_show_but_do_not_turn_diarization_on() -> None:
    # Speakers set by an edit (PATCH) on a transcript nobody asked to diarize.
    t = _transcript(
        _seg(0.0, 1.0, "hi", speaker="Ann"),
        _seg(1.0, 2.0, "hello", speaker="Bob"),
    )

    body = _verbose(t)

    assert body["diarization"] == {"enabled": False, "speakers": None}
    assert [s["speaker"] for s in body["segments"]] == ["Ann", "Bob"]
    assert "Ann" not in to_srt(t) + to_vtt(t)


def test_translation_task_is_reported() -> None:
    t = build_transcript(segments=[], duration=1.0, language="de", task=Task.TRANSLATE)

    assert _verbose(t)["task"] == "translate"
