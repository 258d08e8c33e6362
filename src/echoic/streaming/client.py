"""Client-supplied transcripts (seed 000, DESIGN.md §4): a client that transcribed an utterance
on its own device hands the text in, so the server does not decode the same audio again.

    {"type": "transcript", "utterance_id": 3, "text": "turn left here",
     "words": [{"word": "turn", "start": 12.4, "end": 12.6}], "source": "ios-speech"}

Word times are stream seconds (the ``audio_start_s``/``audio_end_s`` timeline of the events);
the transcript is made relative to the utterance, as an engine's would be.
"""

from __future__ import annotations

from dataclasses import dataclass

from echoic.types import Segment, Transcript, TranscriptMetadata, Word, build_transcript


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
