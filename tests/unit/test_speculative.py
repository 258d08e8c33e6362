"""Dual-model mode: the draft/confirmation merger, and the session's confirmations."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from echoic.engines.scripted import ScriptedEngine
from echoic.streaming.decoding import DecodeKind, DecodeRequest
from echoic.streaming.events import EventType
from echoic.streaming.scheduler import ModelScheduler
from echoic.streaming.schedulers import Schedulers
from echoic.streaming.speculative import Merger, MergeStrategy
from echoic.types import SAMPLE_RATE, Audio
from tests.stream_kit import samples, silence, speech
from tests.unit.test_stream_session import CONFIG, Driver, standard_utterance

DUAL = replace(CONFIG, confirm_interval_ms=400, draft_interval_ms=200)


@pytest.mark.parametrize(
    ("strategy", "confirmed", "draft", "shown"),
    [
        # The draft agrees with the confirmation and runs past it: its tail is appended.
        (MergeStrategy.PATCH, "the cat sat", "the cat sat on the mat", "the cat sat on the mat"),
        # The draft disagrees inside the confirmed span: confirmed words win, no flicker.
        (MergeStrategy.PATCH, "the cat sat", "a cat sad on the mat", "the cat sat on the mat"),
        # The draft dropped a confirmed word: alignment still finds where to continue.
        (
            MergeStrategy.PATCH,
            "and so my fellow",
            "and so fellow Americans",
            "and so my fellow Americans",
        ),
        # Position-based replacement just counts words.
        (MergeStrategy.REPLACE, "the cat sat", "a cat sad on the mat", "the cat sat on the mat"),
        (MergeStrategy.REPLACE, "and so my fellow", "and so fellow Americans", "and so my fellow"),
        # A draft that stops matching well before the confirmed words end adds nothing.
        (
            MergeStrategy.PATCH,
            "one two three four five six",
            "one two nine ten",
            "one two three four five six",
        ),
    ],
)
def test_merge_strategies(strategy: MergeStrategy, confirmed: str, draft: str, shown: str) -> None:
    merger = Merger(strategy)
    assert merger.confirm(confirmed) == (confirmed, confirmed)
    text, stable = merger.draft(draft)
    assert text == shown
    assert stable.startswith(confirmed)
    assert text.startswith(stable)


@given(st.lists(st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f"]), max_size=8), max_size=12))
def test_between_confirmations_stable_text_only_grows(drafts: list[list[str]]) -> None:
    merger = Merger()
    merger.confirm("a b")
    previous = ""
    for words in drafts:
        text, stable = merger.draft(" ".join(words))
        assert stable.startswith(previous)
        assert text.startswith(stable)
        assert stable.startswith("a b")
        previous = stable


def test_confirmations_every_interval_correct_the_drafts_before_them() -> None:
    driver = Driver(DUAL)
    driver.feed(silence(200))
    driver.feed(speech(400), drafts=iter(["the", "the cat"]))
    confirms = [r for r in driver.requests if r.kind is DecodeKind.CONFIRM]
    assert len(confirms) == 1
    confirm = confirms[0]
    assert confirm.options == DUAL.confirm_options, "confirmations decode like finals"
    assert replace(confirm.options, word_timestamps=True) == DUAL.final_options
    drafts_before = [
        r.id for r in driver.requests if r.kind is DecodeKind.DRAFT and r.id < confirm.id
    ]
    shown_before = [p["window_id"] for p in driver.of(EventType.PARTIAL)]

    out = driver.answer(confirm, "The cat.")
    [partial] = [e.data for e in out.events if e.type is EventType.PARTIAL]
    assert partial["confidence"] == "confirmed"
    assert partial["text"] == partial["stable_text"] == partial["confirmed_text"] == "The cat."
    assert partial["corrects_window_ids"] == [w for w in shown_before if w in drafts_before]
    assert partial["window_id"] == confirm.id

    # A later draft keeps the confirmed words and adds its own tail, dimmer.
    driver.feed(speech(200), drafts=iter(["a cat sat"]))
    latest = driver.of(EventType.PARTIAL)[-1]
    assert latest["confidence"] == "draft"
    assert latest["confirmed_text"] == "The cat."
    assert latest["text"].startswith("The cat.")


def test_a_late_confirmation_older_than_the_shown_one_is_ignored() -> None:
    driver = Driver(DUAL)
    driver.feed(silence(200))
    driver.feed(speech(1000))
    confirms = [r for r in driver.requests if r.kind is DecodeKind.CONFIRM]
    assert len(confirms) == 1, "one confirmation in flight at a time"
    driver.answer(confirms[0], "first")
    driver.feed(speech(400))
    second = [r for r in driver.requests if r.kind is DecodeKind.CONFIRM][-1]
    assert second.id > confirms[0].id
    driver.answer(second, "first second")
    assert driver.of(EventType.PARTIAL)[-1]["text"] == "first second"


def test_a_pause_inside_an_utterance_turns_the_speculative_final_into_a_confirmation() -> None:
    driver = Driver(replace(DUAL, interim_results=False, confirm_interval_ms=10_000))
    standard_utterance(driver)
    driver.feed(silence(150))  # speculative final requested
    [speculative] = driver.finals()
    driver.feed(speech(300))  # speech resumes: in dual mode it becomes a confirmation
    assert speculative.id not in driver.cancelled
    out = driver.answer(speculative, "so far")
    [partial] = [e.data for e in out.events if e.type is EventType.PARTIAL]
    assert partial["confidence"] == "confirmed"
    assert partial["text"] == "so far"

    driver.feed(silence(300))
    final = driver.finals()[-1]
    assert final.id > speculative.id
    [event] = [
        e.data for e in driver.answer(final, "so far and more").events if e.type is EventType.FINAL
    ]
    assert event["text"] == "so far and more"
    assert event["corrects_window_ids"] == [speculative.id]


def test_the_final_cancels_a_confirmation_still_in_flight() -> None:
    driver = Driver(replace(DUAL, interim_results=False))
    driver.feed(silence(200))
    driver.feed(speech(600))
    [confirm] = [r for r in driver.requests if r.kind is DecodeKind.CONFIRM]
    driver.feed(silence(300))
    assert confirm.id in driver.cancelled
    assert driver.answer(confirm, "late").events == []


@pytest.mark.parametrize(
    ("threshold", "draft_logprobs", "fast"),
    [
        pytest.param(-0.5, [-0.9, -0.2], True, id="newest draft confident: fast model finalizes"),
        pytest.param(-0.5, [-0.2, -0.9], False, id="newest draft unsure: heavy model"),
        pytest.param(-0.5, [], False, id="no draft shown: heavy model"),
        pytest.param(None, [-0.01], False, id="off by default"),
    ],
)
def test_a_confident_draft_skips_the_heavy_final(
    threshold: float | None, draft_logprobs: list[float], fast: bool
) -> None:
    driver = Driver(replace(DUAL, confirm_interval_ms=None, skip_confirm_logprob=threshold))
    driver.feed(silence(200))
    driver.feed(speech(800))  # drafts are left unanswered here, then answered in order
    for logprob in draft_logprobs:
        draft = driver.open_draft()
        assert draft is not None
        driver.answer(draft, "hello world", logprob=logprob)
        driver.feed(speech(200))
    driver.feed(silence(300))

    [final] = driver.finals()
    assert final.fast is fast
    schedulers = Schedulers(
        draft=ModelScheduler(ScriptedEngine(model="fast")),
        confirm=ModelScheduler(ScriptedEngine(model="heavy")),
    )
    assert schedulers.for_request(final) is (schedulers.draft if fast else schedulers.confirm)
    [event] = [
        e.data for e in driver.answer(final, "hello world").events if e.type is EventType.FINAL
    ]
    assert event["text"] == "hello world"


def test_no_interval_confirmation_starts_in_trailing_silence() -> None:
    # A confirmation falls due every 100 ms; the speculative final comes at 250 ms of silence.
    vad = replace(DUAL.vad, speculative_silence_ms=250)
    driver = Driver(replace(DUAL, vad=vad, interim_results=False, confirm_interval_ms=100))

    def feed_answering_confirmations(audio: Audio) -> list[DecodeRequest]:
        asked = []
        for piece in np.array_split(audio, len(audio) // samples(40)):
            for request in driver.take(driver.session.feed(piece, driver.now)).requests:
                asked.append(request)
                if request.kind is DecodeKind.CONFIRM:
                    driver.answer(request, "so far")
            driver.advance(len(piece) / SAMPLE_RATE)
        return asked

    spoken = feed_answering_confirmations(np.concatenate([silence(200), speech(800)]))
    silent = feed_answering_confirmations(silence(240))

    assert [r.kind for r in spoken].count(DecodeKind.CONFIRM) >= 5
    assert silent == []


def test_a_fast_speculative_final_is_not_kept_as_a_confirmation() -> None:
    driver = Driver(replace(DUAL, confirm_interval_ms=10_000, skip_confirm_logprob=-1.0))
    driver.feed(silence(200))
    driver.feed(speech(800))
    draft = driver.open_draft()
    assert draft is not None
    driver.answer(draft, "so far", logprob=-0.1)
    driver.feed(silence(150))  # speculative final, by the drafting model
    [speculative] = driver.finals()
    assert speculative.fast
    driver.feed(speech(300))  # speech resumes: the drafting model's final confirms nothing
    assert speculative.id in driver.cancelled


@pytest.mark.parametrize("aligned", [False, True])
def test_confirmations_decode_as_finals_do_without_word_timings_unless_asked(
    aligned: bool,
) -> None:
    # A partial carries no words: aligning them for a confirmation is CPU the final needs.
    driver = Driver(replace(DUAL, interim_results=False, confirm_word_timestamps=aligned))
    driver.feed(silence(200))
    driver.feed(speech(600))
    [confirmation] = [r for r in driver.requests if r.kind is DecodeKind.CONFIRM]
    driver.feed(silence(300))
    [final] = driver.finals()

    assert final.options == DUAL.final_options
    assert final.options.word_timestamps
    assert confirmation.options.word_timestamps is aligned
    assert replace(confirmation.options, word_timestamps=True) == final.options


def test_a_speculative_final_kept_as_a_confirmation_keeps_its_words() -> None:
    driver = Driver(replace(DUAL, interim_results=False, confirm_interval_ms=10_000))
    standard_utterance(driver)
    driver.feed(silence(150))
    [speculative] = driver.finals()
    driver.feed(speech(300))  # now a confirmation, decoded as the final it was asked as
    assert speculative.options.word_timestamps
    [partial] = [e.data for e in driver.answer(speculative, "so far").events]
    assert partial["confidence"] == "confirmed"
