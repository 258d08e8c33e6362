"""Wire formats of a transcript: the bodies of each ``response_format`` (json, text, verbose_json,
srt, vtt, diarized_json).

``verbose_json`` follows OpenAI's shape (``task``, ``language``, ``duration``, ``text``,
``segments`` with ``id, seek, start, end, text, tokens, temperature, avg_logprob,
compression_ratio, no_speech_prob``, top-level ``words`` with ``word, start, end``, ``usage``) so
the official clients parse it unchanged, and adds echoic's fields from DESIGN.md §2
(``confidence``, ``speaker`` and ``words`` per segment, ``language_probability``,
``diarization``, ``metadata``).
Two deliberate differences from OpenAI:

- ``language`` is the code the engine reported (``"en"``), not OpenAI's English name
  (``"english"``): codes are what every other echoic API and the ``language`` request field use.
- a per-segment decoder statistic the engine did not report (``temperature``, ``avg_logprob``,
  ``compression_ratio``, ``no_speech_prob``) is ``null``, never an invented number.

Null means "not known or not asked for"; an empty list means "known to be empty": a silent file
has ``"segments": []``, and ``words`` is absent unless word timestamps were requested.

``diarized_json`` is OpenAI's shape for its diarizing model (``task``, ``duration``, ``text``,
``segments`` of ``type: "transcript.text.segment"`` with a string ``id``, ``start``, ``end``,
``text`` and ``speaker``, ``usage``); echoic adds only the top-level ``diarization`` block. The
segment ``id`` is echoic's segment number as a string (``"0"``), the number the other formats and
``PATCH /v1/transcripts`` use.

A diarized transcript (``Transcript.diarization`` set) names its speakers in every format:
``json`` has the ``diarization`` block beside ``text`` (``{"enabled": true, "speakers": 2}``),
``verbose_json`` has it and a speaker per segment (a transcript nobody asked to diarize has
``{"enabled": false, "speakers": null}``), ``text`` is one ``SPEAKER_00: …`` line per turn, SRT
cues start ``[SPEAKER_00] `` and VTT cues are voice spans, ``<v SPEAKER_00>…``. Without
diarization the json, text, SRT and VTT bodies are exactly as before.

Subtitle cues are one per segment with non-empty text. Cue text is collapsed onto one line (a
blank line would end the cue) and never contains ``-->`` (it would start a new cue): VTT escapes
``&``, ``<`` and ``>`` as the WebVTT spec requires, SRT, which has no escapes, writes ``->``.
Every cue lasts at least 1 ms, and times are whole milliseconds with two or more hour digits.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterator
from typing import Any

from echoic.types import ResponseFormat, Segment, Transcript, Word, clean_text

JSON_MEDIA_TYPE = "application/json"
TEXT_MEDIA_TYPE = "text/plain; charset=utf-8"
SRT_MEDIA_TYPE = "application/x-subrip; charset=utf-8"
VTT_MEDIA_TYPE = "text/vtt; charset=utf-8"

# Cue times are capped so that a corrupt time can never crash the writer:
# 99999:59:59.999 is more than 11 years, longer than any real recording.
_MAX_CUE_MS = 100_000 * 3_600_000 - 1
_ARROW = re.compile(r"-{2,}>")  # "-->" (and "--->") would read as a cue timing line


def format_transcript(
    t: Transcript,
    fmt: ResponseFormat,
    *,
    include_words: bool = False,
    include_segments: bool = True,
) -> tuple[str, str]:
    """The response body for ``fmt`` and its media type.

    ``include_words`` and ``include_segments`` are the request's ``timestamp_granularities[]``;
    they only change ``verbose_json``.
    """
    fmt = ResponseFormat(fmt)
    if fmt is ResponseFormat.JSON:
        body = {"text": t.text, "usage": _usage(t)}
        if t.diarization is not None:  # asked for: say how many spoke
            body["diarization"] = diarization_dict(t)
        return _dumps(body), JSON_MEDIA_TYPE
    if fmt is ResponseFormat.TEXT:
        return to_text(t), TEXT_MEDIA_TYPE
    if fmt is ResponseFormat.VERBOSE_JSON:
        body = transcript_to_dict(t, include_words=include_words, include_segments=include_segments)
        return _dumps(body), JSON_MEDIA_TYPE
    if fmt is ResponseFormat.DIARIZED_JSON:
        return _dumps(diarized_dict(t)), JSON_MEDIA_TYPE
    if fmt is ResponseFormat.SRT:
        return to_srt(t), SRT_MEDIA_TYPE
    return to_vtt(t), VTT_MEDIA_TYPE


def transcript_to_dict(
    t: Transcript, *, include_words: bool, include_segments: bool = True
) -> dict[str, Any]:
    """The ``verbose_json`` body (OpenAI's shape plus DESIGN.md §2); JSON-ready, no NaN or inf.

    ``words`` is present only when ``include_words``: the flat list of every segment's words, or
    ``null`` when the engine produced no word timings. ``segments`` is present only when
    ``include_segments``, as when a request asks for ``timestamp_granularities[]=word`` alone.
    """
    body: dict[str, Any] = {
        "task": str(t.task),
        "language": t.language,
        "language_probability": _finite(t.language_probability),
        "duration": _time(t.duration),
        "text": t.text,
    }
    if include_segments:
        body["segments"] = [_segment_dict(s, include_words=include_words) for s in t.segments]
    if include_words:
        words = _all_words(t)
        body["words"] = None if words is None else [_word_dict(w) for w in words]
    body["diarization"] = diarization_dict(t)
    body["usage"] = _usage(t)
    metadata = dataclasses.asdict(t.metadata)
    if t.metadata.fallback is not None:
        metadata["fallback"] = [f.to_dict() for f in t.metadata.fallback]
    body["metadata"] = metadata
    return body


def diarization_dict(t: Transcript) -> dict[str, Any]:
    """The ``diarization`` block: ``{"enabled": false, "speakers": null}`` when it was not asked
    for, else how many speakers were found (0 for audio without speech)."""
    if t.diarization is None:
        return {"enabled": False, "speakers": None}
    return {"enabled": t.diarization.enabled, "speakers": t.diarization.speakers}


def diarized_dict(t: Transcript) -> dict[str, Any]:
    """The ``diarized_json`` body (OpenAI's ``TranscriptionDiarized``) plus ``diarization``."""
    return {
        "task": str(t.task),
        "duration": _time(t.duration),
        "text": t.text,
        "segments": [diarized_segment_dict(seg) for seg in t.segments],
        "usage": _usage(t),
        "diarization": diarization_dict(t),
    }


def diarized_segment_dict(seg: Segment) -> dict[str, Any]:
    """One ``diarized_json`` segment; also the ``transcript.text.segment`` stream event."""
    return {
        "type": "transcript.text.segment",
        "id": str(seg.id),
        "start": _time(seg.start),
        "end": _time(seg.end),
        "text": seg.text,
        "speaker": seg.speaker,
    }


def to_text(t: Transcript) -> str:
    """The plain text; a diarized transcript as one ``SPEAKER_00: …`` line per speaker turn
    (consecutive segments of one speaker joined)."""
    if t.diarization is None:
        return t.text + "\n"
    turns: list[tuple[str | None, list[str]]] = []
    for seg in t.segments:
        text = clean_text(seg.text)
        if not text:
            continue
        if turns and turns[-1][0] == seg.speaker:
            turns[-1][1].append(text)
        else:
            turns.append((seg.speaker, [text]))
    return "".join(
        f"{speaker}: {' '.join(texts)}\n" if speaker else f"{' '.join(texts)}\n"
        for speaker, texts in turns
    )


def to_srt(t: Transcript) -> str:
    """SubRip: cues numbered from 1, ``HH:MM:SS,mmm`` times; ``""`` when there is no speech.

    SubRip has no escapes, so ``-->`` in the text is written ``->``; tags such as ``<b>`` pass
    through as text, as in every other SRT writer. A speaker, having no SRT syntax, leads the
    cue text in brackets: ``[SPEAKER_00] Hello.``
    """
    return "".join(
        f"{n}\n{_timestamp(start, ',')} --> {_timestamp(end, ',')}\n"
        f"{_ARROW.sub('->', f'[{speaker}] {text}' if speaker else text)}\n\n"
        for n, (start, end, text, speaker) in enumerate(_cues(t), start=1)
    )


def to_vtt(t: Transcript) -> str:
    """WebVTT: the ``WEBVTT`` header, then cues with ``HH:MM:SS.mmm`` times and escaped text.

    The escapes keep every text exactly, ``-->`` (written ``--&gt;``) and ``<b>`` included. A
    speaker is the cue's voice span (``<v SPEAKER_00>Hello.``), its name escaped the same way.
    """
    cues = "".join(
        f"{_timestamp(start, '.')} --> {_timestamp(end, '.')}\n"
        f"{f'<v {_vtt_escape(speaker)}>' if speaker else ''}{_vtt_escape(text)}\n\n"
        for start, end, text, speaker in _cues(t)
    )
    return "WEBVTT\n\n" + cues


def _cues(t: Transcript) -> Iterator[tuple[int, int, str, str | None]]:
    """(start_ms, end_ms, one-line text, speaker) per segment with text; end is always after
    start; the speaker only when the transcript was diarized."""
    for seg in t.segments:
        text = clean_text(seg.text)
        if not text:
            continue
        start_ms = _to_ms(seg.start)
        speaker = clean_text(seg.speaker or "") or None if t.diarization is not None else None
        yield start_ms, max(_to_ms(seg.end), start_ms + 1), text, speaker


def _to_ms(seconds: float) -> int:
    if math.isnan(seconds) or seconds <= 0:
        return 0
    if seconds * 1000 >= _MAX_CUE_MS:  # also +inf, which round() cannot take
        return _MAX_CUE_MS
    return round(seconds * 1000)


def _timestamp(ms: int, decimal_sep: str) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{decimal_sep}{millis:03d}"


def _vtt_escape(text: str) -> str:
    # WebVTT cue text: "&" and "<" must be escaped; ">" too, which also defuses "-->".
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _segment_dict(seg: Segment, *, include_words: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": seg.id,
        "seek": 0,
        "start": _time(seg.start),
        "end": _time(seg.end),
        "text": seg.text,
        "tokens": list(seg.tokens),
        "temperature": _finite(seg.temperature),
        "avg_logprob": _finite(seg.avg_logprob),
        "compression_ratio": _finite(seg.compression_ratio),
        "no_speech_prob": _finite(seg.no_speech_prob),
        "confidence": _finite(seg.confidence),
        "speaker": seg.speaker,
    }
    if include_words:
        out["words"] = None if seg.words is None else [_word_dict(w) for w in seg.words]
    return out


def _word_dict(w: Word) -> dict[str, Any]:
    return {
        "word": w.word,
        "start": _time(w.start),
        "end": _time(w.end),
        "probability": _finite(w.probability),
    }


def _all_words(t: Transcript) -> tuple[Word, ...] | None:
    # Transcript.words is None for a transcript without segments, but a silent file whose words
    # were requested has a known, empty list of words.
    if not t.segments:
        return ()
    return t.words


def _usage(t: Transcript) -> dict[str, Any]:
    duration = _time(t.duration)
    return {
        "type": "duration",  # OpenAI's usage for duration-billed models: whole seconds, rounded up
        "seconds": math.ceil(duration),
        "duration_ms": round(duration * 1000),
        "tokens": t.token_count,
    }


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _time(seconds: float) -> float:
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0


def _dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, allow_nan=False)
