"""A diarized transcript in every format: the ``diarization`` block, OpenAI's ``diarized_json``
(checked with the ``openai`` package's own model of it), speakers in text, SRT and VTT (parsed
back with ``srt`` and ``webvtt-py``), and the undiarized bodies unchanged."""

from __future__ import annotations

import html
import json
from dataclasses import replace
from typing import Any

import srt
import webvtt
from openai.types.audio import TranscriptionDiarized

from echoic.formats import format_transcript, to_srt, to_text, to_vtt
from echoic.types import Diarization, ResponseFormat, Segment, Transcript, build_transcript


def _seg(start: float, end: float, text: str, speaker: str | None = None) -> Segment:
    return Segment(id=0, start=start, end=end, text=text, speaker=speaker)


PLAIN = build_transcript(
    segments=[
        _seg(0.0, 1.5, "Hello there."),
        _seg(1.5, 3.0, "Hi, how are you?"),
        _seg(3.0, 4.0, "Fine."),
        _seg(4.0, 5.5, "Good <to> hear & see."),
    ],
    duration=6.0,
    language="en",
)
SPEAKERS = ("SPEAKER_00", "SPEAKER_01", "SPEAKER_01", "SPEAKER_00")
DIARIZED = replace(
    PLAIN,
    segments=tuple(replace(s, speaker=sp) for s, sp in zip(PLAIN.segments, SPEAKERS, strict=True)),
    diarization=Diarization(enabled=True, speakers=2),
)


def _body(t: Transcript, fmt: ResponseFormat, **kwargs: Any) -> Any:
    body, _ = format_transcript(t, fmt, **kwargs)
    return json.loads(body) if body.startswith("{") else body


def test_the_diarization_block_says_whether_it_was_asked_and_how_many_were_found() -> None:
    silent = replace(
        build_transcript(segments=[], duration=2.0, language=None),
        diarization=Diarization(enabled=True, speakers=0),
    )

    assert _body(PLAIN, ResponseFormat.VERBOSE_JSON)["diarization"] == {
        "enabled": False,
        "speakers": None,
    }
    assert _body(DIARIZED, ResponseFormat.VERBOSE_JSON)["diarization"] == {
        "enabled": True,
        "speakers": 2,
    }
    assert _body(silent, ResponseFormat.VERBOSE_JSON)["diarization"] == {
        "enabled": True,
        "speakers": 0,
    }
    segments = _body(DIARIZED, ResponseFormat.VERBOSE_JSON)["segments"]
    assert [s["speaker"] for s in segments] == list(SPEAKERS)


def test_json_says_how_many_spoke_only_when_asked() -> None:
    assert _body(DIARIZED, ResponseFormat.JSON) == {
        "text": DIARIZED.text,
        "usage": {"type": "duration", "seconds": 6, "duration_ms": 6000, "tokens": 0},
        "diarization": {"enabled": True, "speakers": 2},
    }
    assert set(_body(PLAIN, ResponseFormat.JSON)) == {"text", "usage"}


def test_diarized_json_is_openais_shape() -> None:
    body = _body(DIARIZED, ResponseFormat.DIARIZED_JSON)

    assert body["segments"][1] == {
        "type": "transcript.text.segment",
        "id": "1",
        "start": 1.5,
        "end": 3.0,
        "text": "Hi, how are you?",
        "speaker": "SPEAKER_01",
    }
    assert set(body) == {"task", "duration", "text", "segments", "usage", "diarization"}
    assert body["diarization"] == {"enabled": True, "speakers": 2}
    parsed = TranscriptionDiarized.model_validate(body)  # what the openai client builds
    assert parsed.task == "transcribe"
    assert parsed.duration == 6.0
    assert parsed.text == DIARIZED.text
    assert [(s.id, s.speaker, s.text) for s in parsed.segments] == [
        (str(i), sp, seg.text)
        for i, (sp, seg) in enumerate(zip(SPEAKERS, PLAIN.segments, strict=True))
    ]
    assert parsed.usage is not None
    assert parsed.usage.type == "duration"
    assert "words" not in body
    assert "words" not in body["segments"][0]


def test_diarized_json_of_silence_has_no_segments_and_no_speakers() -> None:
    silent = replace(
        build_transcript(segments=[], duration=2.0, language=None),
        diarization=Diarization(enabled=True, speakers=0),
    )

    body = _body(silent, ResponseFormat.DIARIZED_JSON)

    assert (body["segments"], body["text"], body["diarization"]["speakers"]) == ([], "", 0)
    TranscriptionDiarized.model_validate(body)


def test_vtt_cues_carry_the_speaker_as_a_voice_span() -> None:
    body = to_vtt(DIARIZED)

    assert "00:00:00.000 --> 00:00:01.500\n<v SPEAKER_00>Hello there.\n\n" in body
    captions = webvtt.from_string(body, strict=True).captions
    assert [c.voice for c in captions] == list(SPEAKERS)
    assert [html.unescape(c.text) for c in captions] == [s.text for s in PLAIN.segments]


def test_a_speaker_name_is_escaped_inside_the_voice_span() -> None:
    named = replace(DIARIZED, segments=(replace(DIARIZED.segments[0], speaker="Ann <host> & co"),))

    body = to_vtt(named)

    assert "<v Ann &lt;host&gt; &amp; co>Hello there." in body
    (caption,) = webvtt.from_string(body, strict=True).captions
    assert html.unescape(caption.text) == "Hello there."


def test_srt_cues_lead_with_the_speaker_in_brackets() -> None:
    body = to_srt(DIARIZED)

    assert body.startswith("1\n00:00:00,000 --> 00:00:01,500\n[SPEAKER_00] Hello there.\n\n")
    cues = list(srt.parse(body))
    assert [c.content for c in cues] == [
        f"[{sp}] {seg.text}" for sp, seg in zip(SPEAKERS, PLAIN.segments, strict=True)
    ]


def test_text_is_one_line_per_speaker_turn() -> None:
    assert to_text(DIARIZED) == (
        "SPEAKER_00: Hello there.\n"
        "SPEAKER_01: Hi, how are you? Fine.\n"
        "SPEAKER_00: Good <to> hear & see.\n"
    )


def test_without_diarization_text_srt_and_vtt_are_as_before() -> None:
    assert to_text(PLAIN) == PLAIN.text + "\n"
    assert "[" not in to_srt(PLAIN)
    assert "<v " not in to_vtt(PLAIN)
    assert to_srt(PLAIN).startswith("1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n")
