"""Client-supplied transcripts (seed 000, DESIGN.md §4): a client that transcribed an utterance
on its own device hands the text in, so the server does not decode the same audio again.

    {"type": "transcript", "utterance_id": 3, "text": "turn left here",
     "words": [{"word": "turn", "start": 12.4, "end": 12.6}], "source": "ios-speech"}

Word times are stream seconds (the ``audio_start_s``/``audio_end_s`` timeline of the events);
the transcript is made relative to the utterance, as an engine's would be.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from echoic.streaming.decoding import DecodeResult
from echoic.types import (
    SAMPLE_RATE,
    Fallback,
    Segment,
    Transcript,
    TranscriptMetadata,
    Word,
    build_transcript,
)

if TYPE_CHECKING:
    from echoic.streaming.utterance import Utterance  # which imports this module


@dataclass(frozen=True, kw_only=True)
class ClientWord:
    word: str
    start: float
    end: float
    probability: float = 1.0


@dataclass(frozen=True, kw_only=True)
class ClientTranscript:
    utterance_id: int
    text: str
    words: tuple[ClientWord, ...] | None = None
    language: str | None = None
    #: What the client used (e.g. ``ios-speech``); reported as the final's ``model``.
    engine: str = "client"


def build_client_transcript(
    supplied: ClientTranscript, *, start_s: float, duration_s: float
) -> Transcript:
    """The client's text as the utterance's transcript: one segment over the utterance."""
    words = None
    if supplied.words is not None:
        words = tuple(
            Word(
                word=w.word,
                start=w.start - start_s,
                end=w.end - start_s,
                probability=w.probability,
            )
            for w in supplied.words
        )
    segments = (
        [Segment(id=0, start=0.0, end=duration_s, text=supplied.text, words=words)]
        if supplied.text.strip()
        else []
    )
    return build_transcript(
        segments=segments,
        duration=duration_s,
        language=supplied.language,
        metadata=TranscriptMetadata(
            provider="client", engine="client", model=supplied.engine, device="client"
        ),
    )


def client_result(utterance: Utterance, supplied: ClientTranscript, now: float) -> DecodeResult:
    """The client's transcript as the final decode's result of the ended ``utterance``."""
    assert utterance.end_sample is not None  # only ended utterances get their final
    transcript = build_client_transcript(
        supplied,
        start_s=utterance.start_sample / SAMPLE_RATE,
        duration_s=(utterance.end_sample - utterance.start_sample) / SAMPLE_RATE,
    )
    return DecodeResult(request_id=0, transcript=transcript, started_at=now, finished_at=now)


def grace_expired(client_grace_ms: int) -> Fallback:
    """The tier skipped when no client transcript came in time: the server decodes instead."""
    grace = client_grace_ms / 1000
    return Fallback(
        from_tier="client",
        to_tier="server",
        reason="grace_expired",
        detail=f"no client transcript within {grace:g} s of the end of speech",
    )
