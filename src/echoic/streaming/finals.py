"""What a ``final`` event says about its utterance (DESIGN.md §2): the text with segment and word
times on the stream's clock, and the latency the user felt.
"""

from __future__ import annotations

from typing import Any

from echoic.streaming.decoding import DecodeResult
from echoic.streaming.utterance import Utterance
from echoic.types import SAMPLE_RATE, Transcript


def final_fields(
    utterance: Utterance,
    transcript: Transcript,
    *,
    model: str,
    diarized: bool = False,
    speaker: str | None = None,
) -> dict[str, Any]:
    """The ``final`` event's fields but ``latency``. The transcript's times count from the start
    of the decoded audio; the event's from the start of the stream. A diarized stream's final
    and each of its segments carry ``speaker`` (``None`` only before any voice was heard long
    enough to embed)."""
    request = utterance.final_request  # None for a client's transcript
    start_sample = request.start_sample if request else utterance.start_sample
    offset = start_sample / SAMPLE_RATE
    words = transcript.words
    labels = {"speaker": speaker} if diarized else {}
    return {
        "utterance_id": utterance.id,
        "window_id": request.id if request else None,
        "text": transcript.text,
        **labels,
        "confidence": "confirmed",
        "segments": [
            {
                "id": s.id,
                "start": round(s.start + offset, 3),
                "end": round(s.end + offset, 3),
                "text": s.text,
                "confidence": s.confidence,
                **labels,
            }
            for s in transcript.segments
        ],
        "words": None
        if words is None
        else [
            {
                "word": w.word,
                "start": round(w.start + offset, 3),
                "end": round(w.end + offset, 3),
                "probability": round(w.probability, 4),
            }
            for w in words
        ],
        "language": transcript.language,
        "source": transcript.metadata.provider,
        "model": transcript.metadata.model or model,
        "corrects_window_ids": list(utterance.uncorrected),
        "audio_start_s": seconds(utterance.start_sample),
        "audio_end_s": seconds(utterance.end_sample or start_sample),
    }


def final_latency(utterance: Utterance, result: DecodeResult, now: float) -> dict[str, int]:
    """``stt_ms`` (the decode), ``endpoint_ms`` (speech end to endpoint) and ``total_ms``
    (speech end to now), measured from when the audio of the speech end arrived."""
    arrival = utterance.speech_end_arrival or now
    ended = utterance.ended_at or now
    return {
        "stt_ms": ms(result.finished_at - result.started_at),
        "endpoint_ms": ms(ended - arrival),
        "total_ms": ms(now - arrival),
    }


def seconds(samples: int) -> float:
    return round(samples / SAMPLE_RATE, 3)


def ms(duration_s: float) -> int:
    return max(0, round(duration_s * 1000))
