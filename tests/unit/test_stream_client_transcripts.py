"""Client-supplied transcripts and fallback events in the live-stream state machine.

Driven like tests/unit/test_stream_session.py (its :class:`Driver`, synthetic audio, manual clock):
the standard utterance starts at 0.1 s, its speech ends at 1.05 s (tail included) and the
endpoint is confirmed when 1.3 s of audio has arrived. Client streams here wait 500 ms for the
client's transcript after the endpoint.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from echoic.engines.scripted import ScriptedEngine
from echoic.errors import ProviderUnavailableError
from echoic.streaming.client import ClientTranscript, ClientWord
from echoic.streaming.config import StreamConfig
from echoic.streaming.decoding import DecodeKind, DecodeRequest, DecodeResult, Output
from echoic.streaming.events import EventType
from echoic.types import Fallback
from tests.stream_kit import silence, speech
from tests.unit.test_stream_session import CONFIG, QUIET, T0, Driver, at, standard_utterance

# Drafts and speculative finals stay switched on: a client stream must not use them.
CLIENT = replace(CONFIG, client_transcripts=True, client_grace_ms=500)
ENDPOINT = T0 + 1.3  # when the standard utterance's endpoint is confirmed
DEADLINE = ENDPOINT + 0.5
WORDS = (
    ClientWord(word="turn", start=0.2, end=0.4),
    ClientWord(word="left", start=0.45, end=0.7, probability=0.8),
    ClientWord(word="here", start=0.75, end=1.0),
)


def send(
    driver: Driver,
    utterance_id: int,
    text: str,
    *,
    words: tuple[ClientWord, ...] | None = None,
    language: str | None = None,
    engine: str = "client",
) -> Output:
    supplied = ClientTranscript(
        utterance_id=utterance_id, text=text, words=words, language=language, engine=engine
    )
    return driver.take(driver.session.client_transcript(supplied, driver.now))


def tick(driver: Driver, now: float) -> Output:
    driver.now = now
    return driver.take(driver.session.tick(now))


def ended_utterance(driver: Driver) -> None:
    """The standard utterance, endpoint confirmed: the audio has arrived up to 1.3 s."""
    standard_utterance(driver)
    driver.feed(silence(300))
    assert driver.types() == ["speech_started", "speech_ended"]


def answer_with(driver: Driver, request: DecodeRequest, text: str, **metadata: object) -> Output:
    """Answer ``request`` as a router would: a scripted transcript with routing metadata."""
    transcript = ScriptedEngine.saying(text).transcribe_sync(request.audio, request.options)
    result = DecodeResult(
        request_id=request.id,
        transcript=transcript.with_metadata(**metadata),
        started_at=driver.now,
        finished_at=driver.now,
    )
    driver.open.pop(request.id, None)
    return driver.take(driver.session.on_result(result, driver.now))


# --- the client's transcript is the final --------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        CLIENT,
        replace(CLIENT, confirm_interval_ms=100),  # dual-model confirmations
        replace(CLIENT, vad=replace(CLIENT.vad, end_of_sentence_ms=100, mid_sentence_ms=600)),
    ],
    ids=["drafts and speculation on", "confirmations on", "end of turn from words on"],
)
def test_a_client_stream_asks_for_no_decodes(config: StreamConfig) -> None:
    driver = Driver(config)
    driver.feed(silence(200))
    driver.feed(speech(600))
    driver.feed(silence(150))  # a pause: speculative finals would start here
    driver.feed(speech(600))
    driver.feed(silence(300))

    assert driver.types() == ["speech_started", "speech_ended"]
    assert driver.requests == []
    send(driver, 1, "all of it")
    assert driver.types()[-1] == "final"
    assert driver.requests == []


def test_the_client_transcript_becomes_the_final() -> None:
    driver = Driver(CLIENT)
    ended_utterance(driver)
    driver.advance(0.1)

    out = send(driver, 1, "turn left here", words=WORDS, language="en", engine="ios-speech")

    assert [e.type for e in out.events] == [EventType.FINAL]
    assert out.requests == []
    assert out.events[0].t == 1.4
    assert dict(out.events[0].data) == {
        "utterance_id": 1,
        "window_id": None,
        "text": "turn left here",
        "confidence": "confirmed",
        "segments": [
            {"id": 0, "start": 0.1, "end": 1.05, "text": "turn left here", "confidence": None}
        ],
        # Stream seconds in, stream seconds out.
        "words": [
            {"word": "turn", "start": 0.2, "end": 0.4, "probability": 1.0},
            {"word": "left", "start": 0.45, "end": 0.7, "probability": 0.8},
            {"word": "here", "start": 0.75, "end": 1.0, "probability": 1.0},
        ],
        "language": "en",
        "source": "client",
        "model": "ios-speech",
        "corrects_window_ids": [],
        "audio_start_s": 0.1,
        "audio_end_s": 1.05,
        # No decode; the user waited from the end of speech (1.06 s) to the transcript (1.4 s).
        "latency": {"stt_ms": 0, "endpoint_ms": 240, "total_ms": 340},
    }
    [record] = out.records
    assert (record.state, record.source, record.queue_ms, record.stt_ms) == (
        "done",
        "client",
        0,
        0,
    )
    assert (record.speculative_hit, record.fallback_strategy) == (False, None)
    assert driver.session.next_deadline() is None
    assert driver.session.pending_finals == 0


def test_a_client_transcript_without_words_has_none() -> None:
    driver = Driver(CLIENT)
    ended_utterance(driver)

    [final] = send(driver, 1, "  hello   there ").events

    assert final.data["text"] == "hello there"
    assert final.data["words"] is None
    assert (final.data["language"], final.data["model"]) == (None, "client")


def test_an_empty_client_transcript_is_an_empty_final() -> None:
    driver = Driver(CLIENT)
    ended_utterance(driver)

    [final] = send(driver, 1, "   ").events

    assert (final.type, final.data["text"], final.data["segments"]) == (EventType.FINAL, "", [])
    assert driver.requests == []


def test_a_transcript_for_the_open_utterance_is_used_when_it_ends() -> None:
    driver = Driver(CLIENT)
    standard_utterance(driver)  # still speaking at 1.0 s
    early = (
        ClientWord(word="turn", start=0.2, end=0.4),
        ClientWord(word="left", start=0.5, end=0.9),
    )

    assert send(driver, 1, "turn left", words=early).events == []
    assert driver.types() == ["speech_started"]
    assert driver.session.next_deadline() is None

    out = driver.feed(silence(300))  # the endpoint

    assert [e.type for e in out.events] == [EventType.SPEECH_ENDED, EventType.FINAL]
    final = out.events[1]
    assert final.t == 1.3
    assert (final.data["text"], final.data["source"]) == ("turn left", "client")
    assert [(w["word"], w["start"], w["end"]) for w in final.data["words"]] == [
        ("turn", 0.2, 0.4),
        ("left", 0.5, 0.9),
    ]
    assert (final.data["audio_start_s"], final.data["audio_end_s"]) == (0.1, 1.05)
    assert driver.requests == []
    assert driver.session.next_deadline() is None


@pytest.mark.parametrize(
    ("speech_before_ms", "silence_before_ms"),
    [(400, 0), (800, 200)],
    ids=["arrives mid-speech", "arrives in the trailing silence"],
)
def test_an_early_transcript_keeps_its_times_and_spans_the_utterance(
    speech_before_ms: int, silence_before_ms: int
) -> None:
    driver = Driver(CLIENT)
    driver.feed(silence(200))
    driver.feed(speech(speech_before_ms))
    driver.feed(silence(silence_before_ms))
    send(driver, 1, "turn left here", words=WORDS)
    driver.feed(speech(800 - speech_before_ms))
    driver.feed(silence(300 - silence_before_ms))

    [final] = driver.of(EventType.FINAL)

    assert final["segments"][0]["end"] == final["audio_end_s"] == 1.05
    assert [(w["start"], w["end"]) for w in final["words"]] == [
        (0.2, 0.4),
        (0.45, 0.7),
        (0.75, 1.0),
    ]


def test_stop_waits_for_the_client_transcript_then_ends() -> None:
    driver = Driver(CLIENT)
    driver.feed(silence(200))
    driver.feed(speech(500))

    driver.call("stop")

    assert driver.types() == ["speech_started", "speech_ended"]
    assert driver.session.next_deadline() == pytest.approx(driver.now + 0.5)
    out = send(driver, 1, "last words")
    assert [e.type.value for e in out.events] == ["final", "end"]
    assert driver.requests == []
    assert driver.session.ended


# --- no transcript in time: the server decodes ---------------------------------------------------


def test_without_a_transcript_the_grace_period_ends_in_a_server_decode() -> None:
    driver = Driver(CLIENT)
    ended_utterance(driver)
    assert driver.session.next_deadline() == pytest.approx(DEADLINE)

    early = tick(driver, DEADLINE - 0.01)
    assert (early.events, early.requests) == ([], [])
    assert driver.session.next_deadline() == pytest.approx(DEADLINE)

    out = tick(driver, DEADLINE)

    [request] = out.requests
    assert (request.kind, request.utterance_id, request.speculative) == (DecodeKind.FINAL, 1, False)
    assert (request.start_sample, request.end_sample) == (at(100), at(1050))
    assert request.created_at == pytest.approx(DEADLINE)
    assert [(e.type, dict(e.data)) for e in out.events] == [
        (
            EventType.FALLBACK,
            {
                "utterance_id": 1,
                "from": "client",
                "to": "server",
                "reason": "grace_expired",
                "detail": "no client transcript within 0.5 s of the end of speech",
            },
        )
    ]
    assert driver.session.next_deadline() is None
    later = tick(driver, DEADLINE + 5)
    assert (later.events, later.requests) == ([], [])  # exactly one decode

    [final] = driver.answer(request, "turn left here").events

    assert final.type is EventType.FINAL
    assert (final.data["text"], final.data["source"], final.data["window_id"]) == (
        "turn left here",
        "local",
        request.id,
    )
    [record] = driver.records
    assert (record.source, record.fallback_strategy) == ("local", "client->server")


def test_a_transcript_after_the_grace_period_is_a_warning_and_the_server_wins() -> None:
    driver = Driver(CLIENT)
    ended_utterance(driver)
    [request] = tick(driver, DEADLINE).requests

    out = send(driver, 1, "the client's words")

    assert out.requests == []
    assert [(e.type, dict(e.data)) for e in out.events] == [
        (
            EventType.WARNING,
            {
                "code": "late_transcript",
                "detail": "utterance 1: the transcript came after the grace period; the "
                "server's own transcription is used",
            },
        )
    ]
    driver.answer(request, "the server's words")
    assert [(f["text"], f["source"]) for f in driver.of(EventType.FINAL)] == [
        ("the server's words", "local")
    ]
    # Once the final is out, the utterance waits for nothing.
    [error] = send(driver, 1, "even later").events
    assert (error.type, error.data["code"]) == (EventType.ERROR, "unknown_utterance")
    assert len(driver.of(EventType.FINAL)) == 1


# --- transcripts the session cannot use ----------------------------------------------------------


def test_a_transcript_for_an_unknown_utterance_is_an_error() -> None:
    driver = Driver(CLIENT)
    ended_utterance(driver)

    out = send(driver, 7, "who said this")

    assert [(e.type, dict(e.data)) for e in out.events] == [
        (
            EventType.ERROR,
            {
                "code": "unknown_utterance",
                "message": "no utterance 7 is waiting for a transcript",
                "retryable": False,
            },
        )
    ]
    assert out.requests == []
    # Utterance 1 still waits for its own.
    assert [e.type for e in send(driver, 1, "mine").events] == [EventType.FINAL]


def test_a_transcript_on_a_stream_without_client_transcripts_is_unsupported() -> None:
    driver = Driver(QUIET)
    ended_utterance(driver)
    [request] = driver.finals()

    out = send(driver, 1, "the client's words")

    [event] = out.events
    assert (event.type, event.data["code"], event.data["retryable"]) == (
        EventType.ERROR,
        "unsupported",
        False,
    )
    assert "client_transcripts" in event.data["message"]
    assert driver.session.next_deadline() is None
    driver.answer(request, "the server's words")
    assert [(f["text"], f["source"]) for f in driver.of(EventType.FINAL)] == [
        ("the server's words", "local")
    ]


# --- order ---------------------------------------------------------------------------------------


def two_client_utterances(driver: Driver) -> None:
    """Utterance 1 ends at 0.8 s (deadline 1.3 s), utterance 2 at 1.5 s (deadline 2.0 s)."""
    driver.feed(silence(200))
    driver.feed(speech(300))
    driver.feed(silence(400))
    driver.feed(speech(300))
    driver.feed(silence(400))
    assert driver.types() == ["speech_started", "speech_ended"] * 2
    assert driver.session.pending_finals == 2


def test_finals_stay_in_utterance_order_when_the_second_transcript_comes_first() -> None:
    driver = Driver(CLIENT)
    two_client_utterances(driver)

    assert send(driver, 2, "second").events == []
    assert driver.session.next_deadline() == pytest.approx(T0 + 1.3)  # only utterance 1's left

    out = send(driver, 1, "first")

    assert [(e.type, e.data["utterance_id"], e.data["text"]) for e in out.events] == [
        (EventType.FINAL, 1, "first"),
        (EventType.FINAL, 2, "second"),
    ]
    assert [r.utterance_id for r in out.records] == [1, 2]
    assert driver.requests == []
    assert driver.session.next_deadline() is None


def test_a_server_decoded_first_utterance_still_comes_before_the_second() -> None:
    driver = Driver(CLIENT)
    two_client_utterances(driver)
    send(driver, 2, "second")

    [request] = tick(driver, T0 + 1.3).requests
    assert request.utterance_id == 1
    assert driver.of(EventType.FINAL) == []

    out = driver.answer(request, "first")

    assert [(e.data["utterance_id"], e.data["source"]) for e in out.events] == [
        (1, "local"),
        (2, "client"),
    ]


# --- fallback events from the router --------------------------------------------------------------


def test_a_final_from_a_fallback_tier_is_preceded_by_a_fallback_event() -> None:
    driver = Driver(QUIET)
    ended_utterance(driver)
    [request] = driver.finals()
    skip = Fallback(from_tier="local:cpu", to_tier="cloud", reason="error", detail="model crashed")

    out = answer_with(driver, request, "hello from the cloud", provider="cloud", fallback=(skip,))

    assert [e.type for e in out.events] == [EventType.FALLBACK, EventType.FINAL]
    assert dict(out.events[0].data) == {
        "utterance_id": 1,
        "from": "local:cpu",
        "to": "cloud",
        "reason": "error",
        "detail": "model crashed",
    }
    assert (out.events[1].data["text"], out.events[1].data["source"]) == (
        "hello from the cloud",
        "cloud",
    )
    [record] = out.records
    assert (record.source, record.fallback_strategy) == ("cloud", "local:cpu->cloud")


def test_a_final_from_the_first_tier_has_no_fallback_event() -> None:
    driver = Driver(QUIET)
    ended_utterance(driver)
    [request] = driver.finals()

    out = answer_with(driver, request, "hello", provider="local", fallback=None)

    assert [e.type for e in out.events] == [EventType.FINAL]
    assert out.records[0].fallback_strategy is None


def test_when_every_tier_fails_the_fallbacks_come_before_the_error() -> None:
    """Each tier skipped for the next one is a ``fallback``; the last tier's failure (no tier
    after it) is no fallback: the ``error`` reports it."""
    driver = Driver(QUIET)
    ended_utterance(driver)
    [request] = driver.finals()
    skips = (
        Fallback(from_tier="local:cpu", to_tier="cloud", reason="circuit_open", detail="demoted"),
        Fallback(from_tier="cloud", to_tier=None, reason="timeout", detail="no answer in 10 s"),
    )
    error = ProviderUnavailableError("no provider could transcribe", skips=skips)

    out = driver.answer(request, error=error)

    assert [(e.type, dict(e.data)) for e in out.events] == [
        (
            EventType.FALLBACK,
            {
                "utterance_id": 1,
                "from": "local:cpu",
                "to": "cloud",
                "reason": "circuit_open",
                "detail": "demoted",
            },
        ),
        (
            EventType.ERROR,
            {
                "code": "provider_unavailable",
                "message": "utterance 1: no provider could transcribe",
                "retryable": True,
                "utterance_id": 1,
            },
        ),
    ]
    [record] = out.records
    assert (record.state, record.source) == ("failed", "none")
    assert record.fallback_strategy == "local:cpu->cloud"


def test_an_error_with_several_fallbacks_reports_each_in_order() -> None:
    driver = Driver(QUIET)
    ended_utterance(driver)
    [request] = driver.finals()
    skips = (
        Fallback(from_tier="local:gpu", to_tier="local:cpu", reason="overloaded"),
        Fallback(from_tier="local:cpu", to_tier="cloud", reason="timeout"),
        Fallback(from_tier="cloud", to_tier=None, reason="rate_limited"),
    )

    out = driver.answer(request, error=ProviderUnavailableError("all failed", skips=skips))

    assert [(e.type.value, e.data.get("from"), e.data.get("to")) for e in out.events] == [
        ("fallback", "local:gpu", "local:cpu"),
        ("fallback", "local:cpu", "cloud"),
        ("error", None, None),
    ]
