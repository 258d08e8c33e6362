"""The live-stream state machine, driven with synthetic audio and a manual clock.

Audio goes in as 20 ms chunks of a tone (speech) or zeros (silence); ``now`` moves with the audio
(real-time arrival) unless a test moves it. Windows are 10 ms (160 samples) so that every
duration below is a whole number of windows:

- speech confirmed after 100 ms, pre-roll 100 ms;
- speculative final after 100 ms of trailing silence, end after 300 ms, 50 ms tail kept;
- first draft once 300 ms are buffered (pre-roll included), then every 200 ms of new audio.

The standard utterance is 200 ms of silence then 800 ms of speech: it starts at 0.1 s (pre-roll),
the speculative final names [0.1 s, 1.05 s) when 1.1 s has arrived, and the endpoint is confirmed
at 1.3 s.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from echoic.engines.scripted import ScriptedEngine
from echoic.errors import EchoicError, EngineError, EngineTimeoutError
from echoic.streaming.config import StreamConfig
from echoic.streaming.decoding import (
    DecodeKind,
    DecodeRequest,
    DecodeResult,
    LatencyRecord,
    Output,
)
from echoic.streaming.events import Event, EventType
from echoic.streaming.session import StreamSession
from echoic.streaming.stable import Stabilizer
from echoic.streaming.utterance import Utterance, UtteranceState
from echoic.types import SAMPLE_RATE, Audio
from echoic.vad import VadConfig
from tests.stream_kit import RmsDetector, chunks, samples, silence, speech

W = 160  # samples in a 10 ms window
VAD = VadConfig(
    window_samples=W,
    min_speech_ms=100,
    silence_ms=300,
    speculative_silence_ms=100,
    tail_ms=50,
    pre_roll_ms=100,
    max_utterance_s=5.0,
)
CONFIG = StreamConfig(vad=VAD, draft_min_ms=300, draft_interval_ms=200, buffer_s=6.0)
QUIET = replace(CONFIG, interim_results=False)  # no drafts: only finals are requested
T0 = 100.0  # the manual clock when the session starts


class Driver:
    """A session, a manual clock, and everything the session has said so far."""

    def __init__(self, config: StreamConfig = CONFIG) -> None:
        self.detector = RmsDetector(W)
        self.session = StreamSession(config, self.detector, session_id="s-1", now=T0, model="tiny")
        self.now = T0
        self.events: list[Event] = []
        self.emitted_at: list[float] = []  # the `now` each event was emitted at
        self.requests: list[DecodeRequest] = []
        self.cancelled: list[int] = []
        self.records: list[LatencyRecord] = []
        self.open: dict[int, DecodeRequest] = {}  # requested, neither answered nor cancelled

    def take(self, out: Output) -> Output:
        self.events += out.events
        self.emitted_at += [self.now] * len(out.events)
        self.requests += out.requests
        self.open.update((r.id, r) for r in out.requests)
        for request_id in out.cancelled:
            self.open.pop(request_id, None)
        self.cancelled += out.cancelled
        self.records += out.records
        return out

    def advance(self, seconds: float) -> None:
        self.now = round(self.now + seconds, 6)

    def feed(self, audio: Audio, *, drafts: Iterator[str] | None = None) -> Output:
        """Feed ``audio`` in real time; with ``drafts``, answer each draft at once with the next."""
        total = Output()
        for chunk in chunks(audio):
            self.advance(len(chunk) / SAMPLE_RATE)
            total.extend(self.take(self.session.feed(chunk, self.now)))
            for _ in range(100):  # a draft answered at once may ask for the next one
                draft = self.open_draft()
                text = next(drafts, None) if drafts is not None and draft is not None else None
                if draft is None or text is None:
                    break
                total.extend(self.answer(draft, text))
            else:
                raise AssertionError("drafts keep being requested without new audio")
        return total

    def answer(
        self,
        request: DecodeRequest,
        text: str = "",
        *,
        error: EchoicError | None = None,
        started: float | None = None,
        finished: float | None = None,
        logprob: float | None = None,
    ) -> Output:
        transcript = None
        if error is None:
            engine = ScriptedEngine.saying(text, delay_s=0.0)
            transcript = engine.transcribe_sync(request.audio, request.options)
            if logprob is not None:
                scored = tuple(replace(s, avg_logprob=logprob) for s in transcript.segments)
                transcript = replace(transcript, segments=scored)
        result = DecodeResult(
            request_id=request.id,
            transcript=transcript,
            error=error,
            started_at=self.now if started is None else started,
            finished_at=self.now if finished is None else finished,
        )
        self.open.pop(request.id, None)
        return self.take(self.session.on_result(result, self.now))

    def call(self, method: str) -> Output:
        out: Output = getattr(self.session, method)(self.now)
        return self.take(out)

    def open_draft(self) -> DecodeRequest | None:
        drafts = [r for r in self.open.values() if r.kind is DecodeKind.DRAFT]
        assert len(drafts) <= 1, "more than one draft in flight"
        return drafts[0] if drafts else None

    def finals(self) -> list[DecodeRequest]:
        return [r for r in self.requests if r.kind is DecodeKind.FINAL]

    def of(self, type_: EventType) -> list[dict[str, Any]]:
        return [dict(e.data) for e in self.events if e.type is type_]

    def types(self) -> list[str]:
        return [e.type.value for e in self.events]


def at(ms: int) -> int:
    """The absolute sample at ``ms`` into the stream."""
    return samples(ms)


def standard_utterance(driver: Driver, drafts: Iterable[str] | None = None) -> None:
    """200 ms of silence then 800 ms of speech (the audio has arrived up to 1.0 s)."""
    driver.feed(silence(200))
    driver.feed(speech(800), drafts=iter(drafts) if drafts is not None else None)


# --- nothing to say -------------------------------------------------------------------------------


def test_silent_input_produces_no_events_and_no_requests() -> None:
    driver = Driver()
    quiet_noise = np.random.default_rng(1).uniform(-0.008, 0.008, samples(3000))

    driver.feed(silence(5000))
    driver.feed(quiet_noise.astype(np.float32))
    driver.call("finalize")

    assert (driver.events, driver.requests) == ([], [])
    driver.call("stop")
    assert driver.of(EventType.END) == [
        {"usage": {"audio_s": 8.0, "utterances": 0, "frames_dropped": 0}}
    ]


@pytest.mark.parametrize("burst_ms", [10, 50, 90])
def test_a_burst_shorter_than_min_speech_produces_nothing(burst_ms: int) -> None:
    driver = Driver()

    driver.feed(silence(200))
    driver.feed(speech(burst_ms))
    driver.feed(silence(100))
    driver.feed(speech(burst_ms))  # two bursts, 100 ms apart, do not add up
    driver.feed(silence(1000))

    assert (driver.events, driver.requests) == ([], [])


def test_finalize_during_a_short_burst_produces_nothing() -> None:
    driver = Driver()
    driver.feed(silence(200))
    driver.feed(speech(60))

    assert driver.call("finalize").events == []
    driver.feed(silence(500))
    assert (driver.events, driver.requests) == ([], [])


# --- one utterance --------------------------------------------------------------------------------


def test_speech_starts_with_its_pre_roll_when_min_speech_is_reached() -> None:
    driver = Driver(QUIET)
    driver.feed(silence(200))
    driver.feed(speech(80))
    assert driver.events == []

    driver.feed(speech(20))  # 100 ms of speech: confirmed, 100 ms of pre-roll before it

    assert driver.of(EventType.SPEECH_STARTED) == [{"utterance_id": 1, "audio_start_s": 0.1}]
    assert driver.emitted_at == [T0 + 0.3]


def test_first_draft_once_draft_min_is_buffered_then_one_at_a_time() -> None:
    driver = Driver()
    driver.feed(silence(200))
    driver.feed(speech(180))  # buffered: 100 ms pre-roll + 180 ms
    assert driver.requests == []

    driver.feed(speech(20))  # 300 ms buffered
    draft = driver.open_draft()
    assert draft is not None
    assert (draft.kind, draft.start_sample, draft.end_sample) == (
        DecodeKind.DRAFT,
        at(100),
        at(400),
    )
    np.testing.assert_array_equal(
        draft.audio, np.concatenate([silence(100), speech(180), speech(20)])
    )
    assert draft.options == CONFIG.draft_options

    driver.feed(speech(400))  # 400 ms of new audio, but the first draft is still running
    assert driver.requests == [draft]

    out = driver.answer(draft, "hello")  # answering it asks for the newest audio at once
    assert [(r.kind, r.start_sample, r.end_sample) for r in out.requests] == [
        (DecodeKind.DRAFT, at(100), at(800))
    ]
    assert out.requests[0].id > draft.id


def test_drafts_follow_every_draft_interval_of_new_audio() -> None:
    driver = Driver()
    words = iter(["hello", "hello world", "hello world how", "hello world how are", "x"])

    standard_utterance(driver, words)

    assert [r.end_sample for r in driver.requests] == [at(400), at(600), at(800), at(1000)]
    assert all(r.start_sample == at(100) for r in driver.requests)


def test_empty_drafts_do_not_make_the_session_redecode_the_same_audio() -> None:
    driver = Driver()

    standard_utterance(driver, drafts=iter(lambda: "", None))

    assert [r.end_sample for r in driver.requests] == [at(400), at(600), at(800), at(1000)]
    assert driver.of(EventType.PARTIAL) == []


def test_partials_carry_monotonic_window_ids_and_a_stable_prefix_that_never_shrinks() -> None:
    driver = Driver()
    hypotheses = ["hello", "hello world", "Hello, world how", "hello world who are"]

    standard_utterance(driver, hypotheses)

    partials = driver.of(EventType.PARTIAL)
    assert [(p["text"], p["stable_text"]) for p in partials] == [
        ("hello", ""),
        ("hello world", "hello"),
        ("hello world how", "hello world"),
        ("hello world who are", "hello world"),
    ]
    ids = [p["window_id"] for p in partials]
    assert ids == sorted(set(ids)) == [r.id for r in driver.requests]
    for p in partials:
        assert p["utterance_id"] == 1
        assert (p["confidence"], p["source"], p["model"]) == ("draft", "local", "scripted")
        assert p["text"].startswith(p["stable_text"])
        assert p["audio_start_s"] == 0.1


@pytest.mark.parametrize(
    ("shown", "drafts_in_silence"),
    [
        pytest.param("hello", False, id="text shown: no draft in trailing silence"),
        pytest.param("", True, id="nothing shown yet: drafting goes on"),
    ],
)
def test_trailing_silence_gets_drafts_only_while_nothing_has_been_shown(
    shown: str, drafts_in_silence: bool
) -> None:
    # A draft falls due every 100 ms; the speculative final comes at 250 ms of silence.
    vad = replace(VAD, speculative_silence_ms=250)
    driver = Driver(replace(CONFIG, vad=vad, draft_interval_ms=100))
    driver.feed(silence(200))
    driver.feed(speech(800), drafts=itertools.repeat(shown))
    spoken = len(driver.requests)

    driver.feed(silence(240), drafts=itertools.repeat(shown))

    drafts = [r for r in driver.requests[spoken:] if r.kind is DecodeKind.DRAFT]
    assert bool(drafts) is drafts_in_silence
    assert [r.kind for r in driver.requests[spoken:]].count(DecodeKind.FINAL) == 0


def test_a_late_draft_is_not_shown_once_the_utterance_has_ended() -> None:
    driver = Driver()
    standard_utterance(driver, ["one", "one two", "one two three"])  # the 4th is left running
    late = driver.open_draft()
    assert late is not None

    driver.feed(silence(300))  # endpoint

    assert late.id in driver.cancelled
    assert driver.answer(late, "one two three four").events == []
    assert len(driver.of(EventType.PARTIAL)) == 3


def test_a_failed_draft_is_a_warning_and_drafting_goes_on() -> None:
    driver = Driver()
    driver.feed(silence(200))
    driver.feed(speech(300))
    draft = driver.open_draft()
    assert draft is not None

    out = driver.answer(draft, error=EngineError("draft model crashed"))

    assert [(e.type, e.data["code"]) for e in out.events] == [(EventType.WARNING, "draft_failed")]
    driver.feed(speech(200))
    assert driver.open_draft() is not None


# --- the final: speculation and the endpoint ------------------------------------------------------


def test_speculative_final_starts_after_speculative_silence() -> None:
    driver = Driver()
    standard_utterance(driver, ["a", "a b", "a b c", "a b c d"])
    driver.feed(silence(80))
    assert driver.finals() == []

    driver.feed(silence(20))  # 100 ms of trailing silence at 1.1 s

    [final] = driver.finals()
    assert final.speculative
    assert (final.start_sample, final.end_sample) == (at(100), at(1050))  # 50 ms tail kept
    assert final.options == CONFIG.final_options
    assert final.created_at == pytest.approx(T0 + 1.1)
    assert driver.of(EventType.SPEECH_ENDED) == []

    driver.feed(silence(180))
    assert len(driver.requests) == 5  # no drafts while the final runs, and no second final


def test_speculative_final_is_cancelled_when_speech_resumes_and_its_result_ignored() -> None:
    driver = Driver(QUIET)
    standard_utterance(driver)
    driver.feed(silence(150))
    [stale] = driver.finals()

    driver.feed(speech(300))  # speech is back at 1.15 s

    assert driver.cancelled == [stale.id]
    assert driver.answer(stale, "stale words").events == []

    driver.feed(silence(300))  # endpoint at 1.75 s: the utterance ends at 1.5 s
    fresh = driver.finals()[-1]
    assert fresh.id > stale.id
    assert (fresh.start_sample, fresh.end_sample) == (at(100), at(1500))
    out = driver.answer(fresh, "fresh words")
    assert [e.data["text"] for e in out.events] == ["fresh words"]
    assert driver.of(EventType.SPEECH_ENDED) == [
        {"utterance_id": 1, "audio_end_s": 1.5, "reason": "silence"}
    ]


def test_a_speculative_result_stashed_before_speech_resumed_is_discarded() -> None:
    driver = Driver(QUIET)
    standard_utterance(driver)
    driver.feed(silence(150))
    [stale] = driver.finals()
    assert driver.answer(stale, "stale words").events == []  # answered early: stashed

    driver.feed(speech(300))
    driver.feed(silence(300))

    fresh = driver.finals()[-1]
    assert fresh.id != stale.id
    assert driver.of(EventType.FINAL) == []  # the stashed result does not stand in for it
    driver.answer(fresh, "fresh words")
    assert [f["text"] for f in driver.of(EventType.FINAL)] == ["fresh words"]


def test_final_when_the_decode_answers_before_the_endpoint() -> None:
    driver = Driver()
    standard_utterance(driver, ["hello", "hello world", "hello world how", "hello world how are"])
    driver.feed(silence(200))  # 1.2 s: the speculative final has been running since 1.1 s
    final = driver.finals()[0]
    driver.answer(final, "hello world how are you", started=T0 + 1.1, finished=T0 + 1.18)
    assert driver.of(EventType.FINAL) == []  # stashed until the endpoint

    out = driver.feed(silence(100))  # endpoint confirmed at 1.3 s

    assert [e.type for e in out.events] == [EventType.SPEECH_ENDED, EventType.FINAL]
    assert driver.of(EventType.SPEECH_ENDED) == [
        {"utterance_id": 1, "audio_end_s": 1.05, "reason": "silence"}
    ]
    event = out.events[1]
    assert event.t == 1.3
    assert event.data["text"] == "hello world how are you"
    assert event.data["corrects_window_ids"] == [1, 2, 3, 4]
    assert event.data["window_id"] == final.id
    # The utterance's end arrived in the chunk that ended at 1.06 s.
    assert event.data["latency"] == {"stt_ms": 80, "endpoint_ms": 240, "total_ms": 240}


def test_final_when_the_decode_answers_after_the_endpoint() -> None:
    driver = Driver()
    standard_utterance(driver, ["hello", "hello world", "hello world how", "hello world how are"])
    driver.feed(silence(500))  # endpoint at 1.3 s, audio up to 1.5 s
    assert driver.types()[-1] == "speech_ended"
    assert driver.of(EventType.FINAL) == []

    out = driver.answer(
        driver.finals()[0], "hello world how are you", started=T0 + 1.35, finished=T0 + 1.45
    )

    [event] = out.events
    assert (event.type, event.t) == (EventType.FINAL, 1.5)
    assert event.data["latency"] == {"stt_ms": 100, "endpoint_ms": 240, "total_ms": 440}
    assert event.data["corrects_window_ids"] == [1, 2, 3, 4]
    [record] = out.records
    assert (record.state, record.utterance_id, record.speculative_hit) == ("done", 1, True)
    assert (record.endpoint_ms, record.stt_ms, record.total_ms) == (240, 100, 440)
    assert record.queue_ms == 250  # created at 1.1 s, started at 1.35 s
    assert (record.capture_ms, record.frames) == (950, 95)


def test_final_segments_and_words_are_in_session_time() -> None:
    driver = Driver(QUIET)
    standard_utterance(driver)
    driver.feed(silence(300))

    driver.answer(driver.finals()[0], "one two three four five")

    [final] = driver.of(EventType.FINAL)
    # The scripted engine spreads the words over the 0.95 s of audio it got, from 0.1 s on.
    assert final["segments"] == [
        {"id": 0, "start": 0.1, "end": 1.05, "text": "one two three four five", "confidence": 1.0}
    ]
    assert [(w["word"], w["start"], w["end"]) for w in final["words"]] == [
        ("one", 0.1, 0.29),
        ("two", 0.29, 0.48),
        ("three", 0.48, 0.67),
        ("four", 0.67, 0.86),
        ("five", 0.86, 1.05),
    ]
    assert (final["audio_start_s"], final["audio_end_s"]) == (0.1, 1.05)
    assert (final["language"], final["source"], final["model"]) == ("en", "local", "scripted")
    assert (final["confidence"], final["corrects_window_ids"]) == ("confirmed", [])


def test_without_speculation_the_final_starts_at_the_endpoint() -> None:
    driver = Driver(replace(QUIET, speculative_final=False))
    standard_utterance(driver)
    driver.feed(silence(280))
    assert driver.requests == []

    driver.feed(silence(20))

    [final] = driver.finals()
    assert not final.speculative
    assert (final.start_sample, final.end_sample) == (at(100), at(1050))
    assert final.created_at == pytest.approx(T0 + 1.3)


def test_max_utterance_splits_a_long_utterance_in_two() -> None:
    driver = Driver(replace(QUIET, vad=replace(VAD, max_utterance_s=1.0)))
    driver.feed(silence(200))
    driver.feed(speech(1500))
    driver.feed(silence(400))

    assert [(e.type.value, dict(e.data)) for e in driver.events] == [
        ("speech_started", {"utterance_id": 1, "audio_start_s": 0.1}),
        ("speech_ended", {"utterance_id": 1, "audio_end_s": 1.1, "reason": "max_duration"}),
        ("speech_started", {"utterance_id": 2, "audio_start_s": 1.1}),
        ("speech_ended", {"utterance_id": 2, "audio_end_s": 1.75, "reason": "silence"}),
    ]
    first, second = driver.finals()
    assert (first.start_sample, first.end_sample, first.speculative) == (at(100), at(1100), False)
    assert (second.start_sample, second.end_sample) == (at(1100), at(1750))

    driver.answer(first, "first half")
    driver.answer(second, "second half")
    assert [(f["utterance_id"], f["text"]) for f in driver.of(EventType.FINAL)] == [
        (1, "first half"),
        (2, "second half"),
    ]


def test_finalize_ends_the_open_utterance_now() -> None:
    driver = Driver(QUIET)
    driver.feed(silence(200))
    driver.feed(speech(500))

    out = driver.call("finalize")

    assert [dict(e.data) for e in out.events] == [
        {"utterance_id": 1, "audio_end_s": 0.7, "reason": "finalize"}
    ]
    [final] = out.requests
    assert (final.start_sample, final.end_sample, final.speculative) == (at(100), at(700), False)
    driver.answer(final, "push to talk")
    assert [f["text"] for f in driver.of(EventType.FINAL)] == ["push to talk"]

    driver.feed(speech(300))  # talking again: a new utterance, not reaching back into the old one
    assert driver.of(EventType.SPEECH_STARTED)[-1] == {"utterance_id": 2, "audio_start_s": 0.7}


def test_finalize_in_trailing_silence_uses_the_speculative_final() -> None:
    driver = Driver(QUIET)
    standard_utterance(driver)
    driver.feed(silence(150))
    [speculative] = driver.finals()

    out = driver.call("finalize")

    assert out.requests == []
    assert [dict(e.data) for e in out.events] == [
        {"utterance_id": 1, "audio_end_s": 1.05, "reason": "finalize"}
    ]
    driver.answer(speculative, "done")
    assert [f["text"] for f in driver.of(EventType.FINAL)] == ["done"]


# --- several utterances, errors -------------------------------------------------------------------


def two_utterances(driver: Driver) -> tuple[DecodeRequest, DecodeRequest]:
    driver.feed(silence(200))
    driver.feed(speech(300))
    driver.feed(silence(400))
    driver.feed(speech(300))
    driver.feed(silence(400))
    first, second = driver.finals()
    return first, second


def test_finals_come_out_in_utterance_order_whatever_order_the_decodes_answer() -> None:
    driver = Driver(QUIET)
    first, second = two_utterances(driver)

    assert driver.answer(second, "second").events == []
    out = driver.answer(first, "first")

    assert [(e.data["utterance_id"], e.data["text"]) for e in out.events] == [
        (1, "first"),
        (2, "second"),
    ]
    assert driver.session.pending_finals == 0


@pytest.mark.parametrize(
    ("error", "code", "state"),
    [
        (EngineError("model crashed"), "engine_error", UtteranceState.FAILED),
        (EngineTimeoutError("too slow"), "engine_timeout", UtteranceState.TIMED_OUT),
    ],
)
def test_a_failed_final_is_an_error_event_and_the_session_goes_on(
    error: EchoicError, code: str, state: UtteranceState
) -> None:
    driver = Driver(QUIET)
    first, second = two_utterances(driver)

    out = driver.answer(first, error=error)

    [event] = out.events
    assert event.type is EventType.ERROR
    assert dict(event.data) == {
        "code": code,
        "message": f"utterance 1: {error.message}",
        "retryable": True,
        "utterance_id": 1,
    }
    assert [r.state for r in out.records] == [state.value]
    driver.answer(second, "still here")
    assert [(f["utterance_id"], f["text"]) for f in driver.of(EventType.FINAL)] == [
        (2, "still here")
    ]
    assert [r.state for r in driver.records] == [state.value, "done"]


def test_stop_finalizes_and_ends_only_after_the_last_final() -> None:
    driver = Driver(QUIET)
    driver.feed(silence(200))
    driver.feed(speech(500))
    driver.take(driver.session.note_dropped(3, driver.now, warn=False))

    out = driver.call("stop")

    assert [(e.type.value, e.data["reason"]) for e in out.events] == [("speech_ended", "stop")]
    assert driver.feed(speech(500)).events == []  # audio after stop is not taken
    assert driver.session.audio_s == 0.7
    assert "end" not in driver.types()

    driver.answer(driver.finals()[0], "last words")

    assert driver.types()[-2:] == ["final", "end"]
    assert driver.of(EventType.END) == [
        {"usage": {"audio_s": 0.7, "utterances": 1, "frames_dropped": 3}}
    ]
    assert driver.session.ended
    count = len(driver.events)
    driver.feed(speech(500))
    driver.call("finalize")
    driver.call("stop")
    assert len(driver.events) == count


def test_stop_waits_for_a_final_still_pending() -> None:
    driver = Driver(QUIET)
    first, second = two_utterances(driver)
    driver.answer(second, "two")

    assert [e.type for e in driver.call("stop").events] == []

    driver.answer(first, "one")
    assert driver.types()[-3:] == ["final", "final", "end"]


def test_stop_with_nothing_open_ends_at_once() -> None:
    driver = Driver()
    driver.feed(silence(300))

    out = driver.call("stop")

    assert [e.type for e in out.events] == [EventType.END]
    assert driver.session.ended


def test_dropped_frames_are_counted_and_warned_about() -> None:
    driver = Driver()

    warned = driver.take(driver.session.note_dropped(2, driver.now))
    silent = driver.take(driver.session.note_dropped(5, driver.now, warn=False))

    [event] = warned.events
    assert (event.type, event.data["code"]) == (EventType.WARNING, "audio_dropped")
    assert "2 audio frames dropped" in event.data["detail"]
    assert silent.events == []
    assert driver.session.frames_dropped == 7


# --- pause, resume, cancel ------------------------------------------------------------------------


def test_pause_ends_the_utterance_and_ignores_audio_until_resume() -> None:
    driver = Driver(QUIET)
    driver.feed(silence(200))
    driver.feed(speech(500))

    out = driver.call("pause")

    assert [dict(e.data) for e in out.events] == [
        {"utterance_id": 1, "audio_end_s": 0.7, "reason": "finalize"}
    ]
    driver.feed(speech(1000))
    assert driver.session.audio_s == 0.7
    assert len(driver.events) == 2

    driver.call("resume")
    assert driver.detector.resets == 1
    driver.feed(speech(300))

    started = driver.of(EventType.SPEECH_STARTED)
    assert [s["utterance_id"] for s in started] == [1, 2]
    # The new utterance's pre-roll does not reach back into the one the pause ended.
    assert started[1]["audio_start_s"] == 0.7
    driver.call("finalize")
    first, second = driver.finals()
    assert second.start_sample == first.end_sample


def test_resume_without_pause_keeps_the_open_utterance() -> None:
    driver = Driver(QUIET)
    driver.feed(silence(200))
    driver.feed(speech(500))

    driver.call("resume")
    driver.feed(speech(300))
    driver.feed(silence(400))

    assert [(e.type.value, e.data["utterance_id"]) for e in driver.events] == [
        ("speech_started", 1),
        ("speech_ended", 1),
    ]
    assert driver.of(EventType.SPEECH_ENDED)[0]["audio_end_s"] == 1.05


def test_cancel_abandons_everything_and_emits_nothing_more() -> None:
    driver = Driver()
    driver.feed(silence(200))
    driver.feed(speech(300))
    driver.feed(silence(400))  # utterance 1 ended, its final pending
    driver.feed(speech(400))  # utterance 2 open, a draft running
    in_flight = set(driver.open)
    assert {r.kind for r in driver.open.values()} == {DecodeKind.FINAL, DecodeKind.DRAFT}

    out = driver.call("cancel")

    assert out.events == []
    assert set(out.cancelled) == in_flight
    assert [(r.utterance_id, r.state) for r in out.records] == [(1, "cancelled"), (2, "cancelled")]
    assert driver.session.ended
    count = len(driver.events)
    for request in driver.requests:
        driver.answer(request, "too late")
    driver.feed(speech(500))
    driver.feed(silence(500))
    for method in ("finalize", "pause", "resume", "stop"):
        driver.call(method)
    assert (len(driver.events), driver.open) == (count, {})


# --- every event ----------------------------------------------------------------------------------


def test_every_event_has_session_id_increasing_seq_and_session_time() -> None:
    driver = Driver()
    driver.take(Output(events=[driver.session.ready_event(driver.now, mode="local")]))
    standard_utterance(driver, ["a", "a b", "a b c", "a b c d"])
    driver.feed(silence(400))
    driver.take(driver.session.note_dropped(1, driver.now))
    driver.feed(speech(300))
    driver.answer(driver.finals()[0], "a b c d e")
    driver.advance(0.25)
    driver.call("stop")
    driver.answer(driver.finals()[-1], "f")

    assert driver.types() == [
        "ready",
        "speech_started",
        *["partial"] * 4,
        "speech_ended",
        "warning",
        "speech_started",
        "final",
        "speech_ended",
        "final",
        "end",
    ]
    assert [e.seq for e in driver.events] == list(range(1, len(driver.events) + 1))
    assert {e.session_id for e in driver.events} == {"s-1"}
    assert [e.t for e in driver.events] == [round(at - T0, 3) for at in driver.emitted_at]
    assert all(e.to_dict()["type"] == e.type.value for e in driver.events)


# --- the utterance state machine ------------------------------------------------------------------

LEGAL = {
    (UtteranceState.IDLE, UtteranceState.CAPTURING),
    (UtteranceState.IDLE, UtteranceState.CANCELLED),
    (UtteranceState.CAPTURING, UtteranceState.TRANSCRIBING),
    (UtteranceState.CAPTURING, UtteranceState.CANCELLED),
    (UtteranceState.TRANSCRIBING, UtteranceState.FINALIZING),
    (UtteranceState.TRANSCRIBING, UtteranceState.CANCELLED),
    (UtteranceState.TRANSCRIBING, UtteranceState.FAILED),
    (UtteranceState.TRANSCRIBING, UtteranceState.TIMED_OUT),
    (UtteranceState.FINALIZING, UtteranceState.DONE),
    (UtteranceState.FINALIZING, UtteranceState.FAILED),
}


@pytest.mark.parametrize("source", list(UtteranceState))
@pytest.mark.parametrize("target", list(UtteranceState))
def test_utterance_transitions(source: UtteranceState, target: UtteranceState) -> None:
    utterance = Utterance(id=7, start_sample=0, state=source)

    if (source, target) in LEGAL:
        utterance.move(target)
        assert utterance.state is target
    else:
        with pytest.raises(RuntimeError, match=f"utterance 7: .*{source.value} → {target.value}"):
            utterance.move(target)
        assert utterance.state is source


# --- properties -----------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    script=st.lists(
        st.tuples(st.booleans(), st.integers(min_value=1, max_value=80)), min_size=1, max_size=30
    ),
    chunk_sizes=st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=20),
    answer_early=st.booleans(),
)
# 6.4 s of speech: split at 5 s, and the 6 s ring wraps.
@example(script=[(True, 80)] * 8 + [(False, 50)], chunk_sizes=[777], answer_early=False)
@example(script=[(True, 80)] * 8 + [(False, 50)], chunk_sizes=[777], answer_early=True)
def test_decodes_get_exactly_the_audio_that_was_fed(
    script: list[tuple[bool, int]], chunk_sizes: list[int], answer_early: bool
) -> None:
    """Whatever the chunking and the speech pattern, every request reads back the very samples
    fed at its positions, finals never overlap, and nothing is lost: the ring wraps (6 s) but
    each utterance (≤ 5 s) stays inside it."""
    parts = [speech(10 * n) if talking else silence(10 * n) for talking, n in script]
    audio = np.concatenate(parts)
    audio += (np.arange(len(audio)) * 1e-8).astype(np.float32)  # every sample distinct
    driver = Driver()
    offset = 0
    for size in itertools.cycle(chunk_sizes):
        if offset >= len(audio):
            break
        chunk = audio[offset : offset + size]
        offset += len(chunk)
        driver.advance(0.01)
        driver.take(driver.session.feed(chunk, driver.now))
        if answer_early:
            for request in list(driver.open.values()):
                driver.answer(request, "w")
    driver.call("stop")
    while driver.open:
        driver.answer(next(iter(driver.open.values())), "w")

    assert driver.session.audio_s == round(len(audio) / SAMPLE_RATE, 3)
    for request in driver.requests:
        expected = audio[request.start_sample : request.end_sample]
        np.testing.assert_array_equal(request.audio, expected)
    finals = driver.of(EventType.FINAL)
    by_id = {r.id: r for r in driver.requests}
    spans = [(by_id[f["window_id"]].start_sample, by_id[f["window_id"]].end_sample) for f in finals]
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), spans
    assert [f["utterance_id"] for f in finals] == list(range(1, len(finals) + 1))
    assert driver.session.utterances == len(finals)
    assert (driver.types()[-1], driver.of(EventType.ERROR)) == ("end", [])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(["hello", "Hello,", "world", "world.", "you"]), max_size=4),
        min_size=1,
        max_size=8,
    )
)
@example([["hello"], ["hello", "world"], ["Hello,", "world"]])  # "hello" must not turn "Hello,"
def test_the_stable_prefix_only_ever_grows(hypotheses: list[list[str]]) -> None:
    stabilizer = Stabilizer()
    before: list[str] = []
    for words in hypotheses:
        text, stable = stabilizer.update(" ".join(words))
        assert stable.split()[: len(before)] == before, (before, stable)
        assert text.split()[: len(stable.split())] == stable.split()
        before = stable.split()
