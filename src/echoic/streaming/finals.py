"""What a ``final`` event says about its utterance (DESIGN.md §2): the text with segment and word
times on the stream's clock, and the latency the user felt; or the ``error`` that failed it. One
:class:`~echoic.streaming.decoding.LatencyRecord` per utterance sums it up for the logs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from echoic.errors import EchoicError, EngineTimeoutError, ProviderUnavailableError
from echoic.streaming.decoding import DecodeResult, LatencyRecord, Output
from echoic.streaming.events import Event, EventStamper, EventType
from echoic.streaming.fallbacks import fallback_events
from echoic.streaming.utterance import Utterance, UtteranceState
from echoic.types import SAMPLE_RATE, Fallback, Transcript

if TYPE_CHECKING:
    from echoic.diarize.online import OnlineSpeakers


def final_output(
    stamp: EventStamper,
    utterance: Utterance,
    now: float,
    *,
    model: str,
    speakers: OnlineSpeakers | None,
) -> Output:
    """The events that end ``utterance``, whose final decode has answered: its ``final`` (after
    a ``fallback`` for each tier skipped), or the ``error`` that failed it."""
    out = Output()
    result = utterance.final_result
    assert result is not None  # only answered utterances get their final
    if result.transcript is not None:
        utterance.move(UtteranceState.FINALIZING)
        out.extend(fallback_events(stamp, utterance, result.transcript.metadata.fallback, now))
        out.events.append(
            _final_event(stamp, utterance, result.transcript, now, model=model, speakers=speakers)
        )
        utterance.move(UtteranceState.DONE)
    else:
        error = result.error or EchoicError("final decode failed")
        if isinstance(error, ProviderUnavailableError):
            skips = tuple(
                s for s in error.skips if isinstance(s, Fallback) and s.to_tier is not None
            )
            out.extend(fallback_events(stamp, utterance, skips, now))
        timed_out = isinstance(error, EngineTimeoutError)
        utterance.move(UtteranceState.TIMED_OUT if timed_out else UtteranceState.FAILED)
        out.events.append(
            stamp(
                EventType.ERROR,
                now,
                code=error.code,
                message=f"utterance {utterance.id}: {error.message}",
                retryable=error.retryable,
                utterance_id=utterance.id,
            )
        )
    return out


def _final_event(
    stamp: EventStamper,
    utterance: Utterance,
    transcript: Transcript,
    now: float,
    *,
    model: str,
    speakers: OnlineSpeakers | None,
) -> Event:
    result = utterance.final_result
    assert result is not None
    # A final without words heard noise (a cough, a door): its "voice" is no speaker's.
    embedding = result.embedding if transcript.text.strip() else None
    return stamp(
        EventType.FINAL,
        now,
        **final_fields(
            utterance,
            transcript,
            model=model,
            diarized=speakers is not None,
            speaker=speakers.assign(embedding) if speakers is not None else None,
        ),
        latency=final_latency(utterance, result, now),
    )


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


def latency_record(
    utterance: Utterance,
    now: float,
    result: DecodeResult | None,
    *,
    session_id: str,
    model: str,
    processed: int,
    window_samples: int,
    frames_dropped: int,
    queue_pressure: float,
    diarized: bool,
) -> LatencyRecord:
    """The utterance's log line. ``processed`` (samples the VAD has read) ends one still open;
    ``frames_dropped`` counts the stream's drops so far."""
    request = utterance.final_request
    latency = final_latency(utterance, result, now) if result else {}
    samples = (utterance.end_sample or processed) - utterance.start_sample
    return LatencyRecord(
        session_id=session_id,
        utterance_id=utterance.id,
        state=utterance.state.value,
        capture_ms=ms(samples / SAMPLE_RATE),
        endpoint_ms=latency.get("endpoint_ms", 0),
        queue_ms=ms(result.started_at - request.created_at) if result and request else 0,
        stt_ms=latency.get("stt_ms", 0),
        total_ms=latency.get("total_ms", 0),
        frames=samples // window_samples,
        bytes=samples * 4,
        frames_dropped=frames_dropped - utterance.dropped_at_start,
        source=_source(result),
        model=model,
        speculative_hit=bool(request and request.speculative),
        fallback_strategy=utterance.fallback_strategy,
        queue_pressure=round(queue_pressure, 3),
        turn=utterance.turn_cue or utterance.end_reason,
        speaker_wait_ms=ms(result.embedding_wait_s) if result and diarized else None,
    )


def _source(result: DecodeResult | None) -> str:
    if result is None or result.transcript is None:
        return "none"
    return result.transcript.metadata.provider


def seconds(samples: int) -> float:
    return round(samples / SAMPLE_RATE, 3)


def ms(duration_s: float) -> int:
    return max(0, round(duration_s * 1000))
