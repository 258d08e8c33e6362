"""End of turn from the words as well as the silence (issue 13): the pure policy, the endpointer's
part and the live session's."""

from __future__ import annotations

from dataclasses import replace

import pytest

from echoic.errors import InvalidRequestError
from echoic.streaming.events import EventType
from echoic.streaming.protocol import StartMessage, VadOverrides
from echoic.streaming.turn import TurnCue, required_silence_ms, turn_cue
from echoic.vad.state import Endpointer, SpeechEnded, VadConfig
from tests.stream_kit import silence, speech
from tests.unit.test_stream_session import CONFIG, Driver, standard_utterance


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("It is done.", TurnCue.SENTENCE_END),
        ("Is it done?", TurnCue.SENTENCE_END),
        ('He said "go!"', TurnCue.SENTENCE_END),
        ("He said “go.”", TurnCue.SENTENCE_END),
        ("(quietly.)", TurnCue.SENTENCE_END),
        ("And so my fellow Americans,", TurnCue.MID_SENTENCE),
        ("He said...", TurnCue.MID_SENTENCE),
        ("He said…", TurnCue.MID_SENTENCE),
        ("the first rule is this:", TurnCue.MID_SENTENCE),
        ("it was cold -", TurnCue.MID_SENTENCE),
        ("I went to the", TurnCue.MID_SENTENCE),
        ("bread and", TurnCue.MID_SENTENCE),
        ("because of", TurnCue.MID_SENTENCE),
        ("THE LORD OF", TurnCue.MID_SENTENCE),  # case does not matter
        ("it was cold", TurnCue.UNKNOWN),
        ("thank you", TurnCue.UNKNOWN),  # pronouns can end a sentence
        ("come in", TurnCue.UNKNOWN),  # so can particles
        ("", TurnCue.UNKNOWN),
        ("   ", TurnCue.UNKNOWN),
        (None, TurnCue.UNKNOWN),
    ],
)
def test_turn_cue(text: str | None, cue: TurnCue) -> None:
    assert turn_cue(text) is cue


def test_the_word_list_is_english_only() -> None:
    assert turn_cue("je pense que la", language="fr") is TurnCue.UNKNOWN
    assert turn_cue("c'est fini.", language="fr") is TurnCue.SENTENCE_END


VAD = VadConfig(silence_ms=600, end_of_sentence_ms=300, mid_sentence_ms=1500)


@pytest.mark.parametrize(
    ("cue", "vad", "ms"),
    [
        (TurnCue.SENTENCE_END, VAD, 300),
        (TurnCue.UNKNOWN, VAD, 600),
        (TurnCue.MID_SENTENCE, VAD, 1500),
        # silence alone: every cue waits silence_ms
        (TurnCue.SENTENCE_END, VadConfig(silence_ms=450), 450),
        (TurnCue.MID_SENTENCE, VadConfig(silence_ms=450), 450),
    ],
)
def test_required_silence(cue: TurnCue, vad: VadConfig, ms: int) -> None:
    assert required_silence_ms(cue, vad) == ms


@pytest.mark.parametrize(
    "kwargs",
    [
        {"silence_ms": 500, "end_of_sentence_ms": 600},  # the short wait longer than the middle
        {"silence_ms": 500, "mid_sentence_ms": 400},  # the longest wait shorter
        {"silence_ms": 500, "end_of_sentence_ms": 150, "speculative_silence_ms": 200},
    ],
)
def test_inconsistent_waits_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="expected"):
        VadConfig(**kwargs)


def test_the_endpointer_alone_waits_the_longest_silence() -> None:
    endpointer = Endpointer(replace(VAD, window_samples=160, min_speech_ms=20, pre_roll_ms=0))
    sample = 0

    def push(probability: float, windows: int) -> list[object]:
        nonlocal sample
        events: list[object] = []
        for _ in range(windows):
            sample += 160
            events += endpointer.push(probability, sample)
        return events

    push(0.9, 50)  # 0.5 s of speech
    assert not [e for e in push(0.0, 149) if isinstance(e, SpeechEnded)]  # 1.49 s of silence
    assert endpointer.trailing_silence_samples == 149 * 160
    [ended] = [e for e in push(0.0, 1) if isinstance(e, SpeechEnded)]
    assert ended.reason == "silence"


def test_end_turn_ends_where_the_silence_would_have() -> None:
    endpointer = Endpointer(replace(VAD, window_samples=160, min_speech_ms=20, pre_roll_ms=0))
    assert endpointer.end_turn() == []  # nothing open
    sample = 0
    for probability, windows in ((0.9, 50), (0.0, 40)):
        for _ in range(windows):
            sample += 160
            endpointer.push(probability, sample)
    [ended] = endpointer.end_turn()
    assert isinstance(ended, SpeechEnded)
    assert ended.end_sample == 50 * 160 + VAD.tail_samples  # speech end plus the tail
    assert endpointer.end_turn() == []  # quiet now


# --- the live session: CONFIG's VAD has silence_ms 300, speculation at 100 ms -------------------

TURN = replace(
    CONFIG,
    interim_results=False,
    vad=replace(CONFIG.vad, end_of_sentence_ms=150, mid_sentence_ms=900),
)


@pytest.mark.parametrize(
    ("text", "ends_after_ms", "cue"),
    [
        ("A whole sentence.", 160, "sentence_end"),
        ("it was cold", 300, "unknown"),
        ("and then,", 900, "silence"),  # the longest wait is the endpointer's own
        ("I went to the", 900, "silence"),
    ],
)
def test_the_speculative_finals_words_set_the_wait(text: str, ends_after_ms: int, cue: str) -> None:
    driver = Driver(TURN)
    standard_utterance(driver)
    driver.feed(silence(100))  # the speculative final is requested at 100 ms of silence
    [speculative] = driver.finals()
    driver.answer(speculative, text)
    waited = 100
    while not driver.of(EventType.SPEECH_ENDED):
        driver.feed(silence(10))
        waited += 10
        assert waited <= 1000, text
    assert ends_after_ms - 10 <= waited <= ends_after_ms + 40, (text, waited)
    assert driver.of(EventType.SPEECH_ENDED)[0]["reason"] == "silence"
    assert [f["text"] for f in driver.of(EventType.FINAL)] == [text]
    [record] = driver.records
    assert record.turn == cue


def test_a_late_speculative_answer_ends_the_turn_at_once() -> None:
    driver = Driver(TURN)
    standard_utterance(driver)
    driver.feed(silence(250))  # past the short wait, the words not known yet
    assert not driver.of(EventType.SPEECH_ENDED)
    [speculative] = driver.finals()
    driver.answer(speculative, "Done.")
    assert driver.of(EventType.SPEECH_ENDED)
    assert [f["text"] for f in driver.of(EventType.FINAL)] == ["Done."]


def test_a_draft_that_ends_a_sentence_counts_before_the_final_answers() -> None:
    driver = Driver(replace(TURN, interim_results=True))
    standard_utterance(driver, drafts=["We are here."] * 10)
    driver.feed(silence(160))
    assert driver.of(EventType.SPEECH_ENDED)  # the speculative final is still running
    assert not driver.of(EventType.FINAL)


def test_a_mid_sentence_pause_keeps_one_utterance() -> None:
    driver = Driver(TURN)
    standard_utterance(driver)
    driver.feed(silence(100))
    [speculative] = driver.finals()
    driver.answer(speculative, "so we went to the")
    driver.feed(silence(600))  # twice silence_ms: silence alone would have ended it
    driver.feed(speech(500))
    assert not driver.of(EventType.SPEECH_ENDED)
    driver.feed(silence(100))
    [_, resumed] = driver.finals()
    driver.answer(resumed, "so we went to the shop.")
    driver.feed(silence(60))
    assert [f["text"] for f in driver.of(EventType.FINAL)] == ["so we went to the shop."]


# --- the `vad` overrides of a stream's start message ---------------------------------------------

BASE = VadConfig(silence_ms=600, end_of_sentence_ms=300, mid_sentence_ms=1500, tail_ms=200)


@pytest.mark.parametrize(
    ("overrides", "waits"),
    [
        ({}, (300, 600, 1500)),
        ({"end_of_sentence_ms": 250}, (250, 600, 1500)),
        ({"mid_sentence_ms": 2000}, (300, 600, 2000)),
        ({"silence_ms": 450}, (450, 450, 450)),  # given alone: silence alone
        ({"silence_ms": 700, "end_of_sentence_ms": 200}, (200, 700, 700)),
        ({"silence_ms": 100}, (100, 100, 100)),  # the tail and speculation shrink to fit
    ],
)
def test_vad_overrides(overrides: dict[str, int], waits: tuple[int, int, int]) -> None:
    vad = VadOverrides(**overrides).apply(BASE)
    assert (vad.sentence_end_ms, vad.silence_ms, vad.mid_sentence_silence_ms) == waits
    assert vad.tail_ms <= vad.speculative_silence_ms <= vad.sentence_end_ms


@pytest.mark.parametrize(
    "overrides",
    [
        {"end_of_sentence_ms": 800},
        {"mid_sentence_ms": 400},
        {"silence_ms": 700, "mid_sentence_ms": 500},
    ],
)
def test_contradicting_waits_are_a_bad_request(overrides: dict[str, int]) -> None:
    start = StartMessage(vad=VadOverrides(**overrides))
    with pytest.raises(InvalidRequestError, match="vad: expected end_of_sentence_ms"):
        start.stream_config(replace(CONFIG, vad=BASE), speculative=False)
