"""The endpointing state machine, driven by scripted probabilities in sample time.

Most tests use 10 ms windows (160 samples) so that durations in the config are whole windows.
A script is a string, one character per window: ``S`` speech (0.9), ``~`` the hysteresis band
(0.4: below the threshold, above the negative threshold), ``.`` silence (0.0).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from echoic.vad import (
    Endpointer,
    SpeechEnded,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    VadConfig,
    VadEvent,
    VadState,
)

W = 160  # samples in a 10 ms window
CFG = VadConfig(window_samples=W)  # threshold 0.5, neg 0.35, min speech 200 ms, silence 500 ms
PROBABILITY = {"S": 0.9, "~": 0.4, ".": 0.0}


def ms(milliseconds: int) -> int:
    return milliseconds * 16


def at(window: int) -> int:
    """The end sample of the window with this 0-based index."""
    return (window + 1) * W


def run(script: str, config: VadConfig = CFG) -> list[VadEvent]:
    endpointer = Endpointer(config)
    events: list[VadEvent] = []
    for i, char in enumerate(script):
        events += endpointer.push(PROBABILITY[char], at(i))
    return events


# --- nothing to say ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "script",
    [
        "." * 1000,
        "~" * 1000,  # under the threshold all along
        "." * 50 + "S" * 19 + "." * 100,  # a 190 ms blip
        "." * 50 + "S" * 10 + "." + "S" * 10 + "." * 100,  # two blips, one silent window apart
        "S" * 19 + "." * 60,
    ],
    ids=["silence", "below-threshold", "blip", "two-blips", "blip-at-start"],
)
def test_no_utterance(script: str) -> None:
    assert run(script) == []


def test_a_blip_goes_back_to_quiet() -> None:
    endpointer = Endpointer(CFG)
    states = []
    for i, p in enumerate([0.9, 0.1]):
        endpointer.push(p, at(i))
        states.append(endpointer.state)

    assert states == [VadState.STARTING, VadState.QUIET]


# --- starting ----------------------------------------------------------------------------------


def test_exactly_min_speech_starts_an_utterance_with_pre_roll() -> None:
    events = run("." * 50 + "S" * 20)  # speech from sample 8000, 200 ms of it by window 69

    assert events == [SpeechStarted(start_sample=50 * W - ms(300), detected_sample=at(69))]


@pytest.mark.parametrize(
    ("probability", "starts"),
    [(0.5, True), (0.4999, False), (1.0, True)],
)
def test_threshold_is_inclusive(probability: float, starts: bool) -> None:
    endpointer = Endpointer(CFG)
    events = [e for i in range(30) for e in endpointer.push(probability, at(i))]

    assert bool(events) is starts


def test_the_hysteresis_band_keeps_counting_while_starting() -> None:
    assert run("." * 50 + "S" * 5 + "~" * 15) == [
        SpeechStarted(start_sample=50 * W - ms(300), detected_sample=at(69))
    ]


def test_the_hysteresis_band_does_not_start_speech() -> None:
    assert run("~" * 10 + "S" * 19 + "." * 60) == []


def test_pre_roll_is_clamped_at_zero() -> None:
    assert run("." * 10 + "S" * 20)[0] == SpeechStarted(start_sample=0, detected_sample=at(29))


def test_pre_roll_never_reaches_into_the_previous_utterance() -> None:
    config = replace(CFG, pre_roll_ms=450)  # longer than the 400 ms from an end to its detection
    events = run("S" * 30 + "." * 50 + "S" * 20, config)

    ended = events[2]
    assert ended == SpeechEnded(
        end_sample=30 * W + ms(100), reason="silence", detected_sample=at(79)
    )
    assert events[3] == SpeechStarted(start_sample=ended.end_sample, detected_sample=at(99))


def test_pre_roll_after_finalize_starts_at_the_finalize_point() -> None:
    endpointer = Endpointer(CFG)
    events = [e for i in range(30) for e in endpointer.push(0.9, at(i))]
    events += endpointer.finalize(at(29))
    events += [e for i in range(30, 60) for e in endpointer.push(0.9, at(i))]

    assert events == [
        SpeechStarted(start_sample=0, detected_sample=at(19)),
        SpeechEnded(end_sample=at(29), reason="finalize", detected_sample=at(29)),
        SpeechStarted(start_sample=at(29), detected_sample=at(49)),
    ]


# --- stopping ----------------------------------------------------------------------------------


def test_trailing_silence_pauses_then_ends_the_utterance() -> None:
    events = run("." * 50 + "S" * 100 + "." * 100)
    silence_start = 150 * W

    assert events == [
        SpeechStarted(start_sample=50 * W - ms(300), detected_sample=at(69)),
        SpeechPaused(
            at_sample=silence_start + ms(200),
            silence_start_sample=silence_start,
            end_sample=silence_start + ms(100),
        ),
        SpeechEnded(
            end_sample=silence_start + ms(100),
            reason="silence",
            detected_sample=silence_start + ms(500),
        ),
    ]


def test_speech_after_a_pause_resumes_the_utterance() -> None:
    events = run("S" * 50 + "." * 30 + "S" * 50 + "." * 60)

    assert [type(e) for e in events] == [
        SpeechStarted,
        SpeechPaused,
        SpeechResumed,
        SpeechPaused,
        SpeechEnded,
    ]
    assert events[2] == SpeechResumed(at_sample=at(80))
    assert events[3] == SpeechPaused(
        at_sample=130 * W + ms(200), silence_start_sample=130 * W, end_sample=130 * W + ms(100)
    )
    assert events[4] == SpeechEnded(
        end_sample=130 * W + ms(100), reason="silence", detected_sample=130 * W + ms(500)
    )


def test_a_short_gap_before_the_pause_is_no_event() -> None:
    events = run("S" * 50 + "." * 15 + "S" * 50 + "." * 60)

    assert [type(e) for e in events] == [SpeechStarted, SpeechPaused, SpeechEnded]


@pytest.mark.parametrize(
    ("script", "silence_start_window"),
    [
        ("S" * 50 + "~" * 40 + "." * 60, 90),  # the band keeps speaking going
        ("S" * 50 + "." + "~" * 60, 50),  # ...and keeps silence going once stopping
        ("S" * 50 + "." * 10 + "~" * 5 + "S" + "." * 60, 66),  # only p >= threshold resumes
    ],
    ids=["band-while-speaking", "band-while-stopping", "resume-needs-threshold"],
)
def test_hysteresis_while_speaking_and_stopping(script: str, silence_start_window: int) -> None:
    ended = run(script)[-1]

    assert ended == SpeechEnded(
        end_sample=silence_start_window * W + ms(100),
        reason="silence",
        detected_sample=silence_start_window * W + ms(500),
    )


def test_speculation_off_ends_without_a_pause() -> None:
    config = replace(CFG, speculative_silence_ms=500)

    events = run("S" * 50 + "." * 60, config)

    assert [type(e) for e in events] == [SpeechStarted, SpeechEnded]


def test_the_tail_is_clamped_to_the_detection_point() -> None:
    config = replace(CFG, tail_ms=100, speculative_silence_ms=100, silence_ms=100)

    events = run("S" * 50 + "." * 5 + "." * 5, config)

    assert events[-1] == SpeechEnded(
        end_sample=50 * W + ms(100), reason="silence", detected_sample=50 * W + ms(100)
    )


def test_a_short_utterance_of_a_few_real_windows() -> None:
    """Default config, 512-sample windows: 7 windows (224 ms) of speech is an utterance."""
    endpointer = Endpointer(VadConfig())
    script = [0.0] * 20 + [0.8] * 7 + [0.0] * 20
    events = [e for i, p in enumerate(script) for e in endpointer.push(p, (i + 1) * 512)]

    assert events == [
        SpeechStarted(start_sample=20 * 512 - 4800, detected_sample=27 * 512),
        SpeechPaused(at_sample=34 * 512, silence_start_sample=27 * 512, end_sample=27 * 512 + 1600),
        SpeechEnded(end_sample=27 * 512 + 1600, reason="silence", detected_sample=43 * 512),
    ]


def test_six_real_windows_are_a_blip() -> None:
    endpointer = Endpointer(VadConfig())
    script = [0.0] * 20 + [0.8] * 6 + [0.0] * 20

    assert [e for i, p in enumerate(script) for e in endpointer.push(p, (i + 1) * 512)] == []


# --- max duration ------------------------------------------------------------------------------


def test_a_long_utterance_is_split_at_max_duration() -> None:
    config = replace(CFG, max_utterance_s=1.0)  # 100 windows

    events = run("." * 50 + "S" * 200 + "." * 60, config)
    first_start = 50 * W - ms(300)

    assert events[:5] == [
        SpeechStarted(start_sample=first_start, detected_sample=at(69)),
        SpeechEnded(
            end_sample=first_start + 16_000, reason="max_duration", detected_sample=at(120)
        ),
        # Cut at the limit, seen one window past it: the next utterance has audio in it.
        SpeechStarted(start_sample=first_start + 16_000, detected_sample=at(120)),
        SpeechEnded(
            end_sample=first_start + 32_000, reason="max_duration", detected_sample=at(220)
        ),
        SpeechStarted(start_sample=first_start + 32_000, detected_sample=at(220)),
    ]
    assert events[-1] == SpeechEnded(
        end_sample=250 * W + ms(100), reason="silence", detected_sample=250 * W + ms(500)
    )


def test_the_split_falls_mid_window_when_the_limit_does() -> None:
    config = VadConfig(max_utterance_s=1.0, pre_roll_ms=0, min_speech_ms=0)  # 512-sample windows
    endpointer = Endpointer(config)
    events = [e for i in range(40) for e in endpointer.push(0.9, (i + 1) * 512)]

    assert events == [
        SpeechStarted(start_sample=0, detected_sample=512),
        SpeechEnded(end_sample=16_000, reason="max_duration", detected_sample=16_384),
        SpeechStarted(start_sample=16_000, detected_sample=16_384),
    ]


def test_max_duration_in_trailing_silence_ends_where_the_speech_ended() -> None:
    config = replace(CFG, max_utterance_s=1.0)

    events = run("S" * 90 + "." * 60 + "S" * 30, config)

    assert events[1:3] == [
        SpeechEnded(end_sample=90 * W + ms(100), reason="max_duration", detected_sample=at(100)),
        SpeechStarted(start_sample=150 * W - ms(300), detected_sample=at(169)),
    ]
    assert not any(isinstance(e, SpeechPaused) for e in events)


# --- finalize and reset ------------------------------------------------------------------------


def test_finalize_ends_an_utterance_while_speaking() -> None:
    endpointer = Endpointer(CFG)
    for i in range(50):
        endpointer.push(0.9, at(i))

    assert endpointer.finalize(at(49) + 100) == [
        SpeechEnded(end_sample=at(49) + 100, reason="finalize", detected_sample=at(49) + 100)
    ]
    assert endpointer.state is VadState.QUIET
    assert endpointer.finalize(at(49) + 100) == []


def test_finalize_in_trailing_silence_trims_it() -> None:
    endpointer = Endpointer(CFG)
    for i, char in enumerate("S" * 50 + "." * 30):
        endpointer.push(PROBABILITY[char], at(i))

    assert endpointer.finalize(at(79)) == [
        SpeechEnded(end_sample=50 * W + ms(100), reason="finalize", detected_sample=at(79))
    ]


@pytest.mark.parametrize("script", ["", "." * 10, "S" * 5], ids=["fresh", "quiet", "starting"])
def test_finalize_without_an_utterance_says_nothing(script: str) -> None:
    endpointer = Endpointer(CFG)
    for i, char in enumerate(script):
        endpointer.push(PROBABILITY[char], at(i))

    assert endpointer.finalize(at(len(script))) == []
    assert endpointer.state is VadState.QUIET


def test_reset_starts_a_new_stream() -> None:
    endpointer = Endpointer(CFG)
    for i in range(50):
        endpointer.push(0.9, at(i))

    endpointer.reset()

    assert endpointer.state is VadState.QUIET
    assert [e for i in range(20) for e in endpointer.push(0.9, at(i))] == [
        SpeechStarted(start_sample=0, detected_sample=at(19))
    ]


# --- illegal use -------------------------------------------------------------------------------


@pytest.mark.parametrize("found", [at(9), at(8), 0], ids=["repeated", "backwards", "zero"])
def test_time_may_not_go_backwards(found: int) -> None:
    endpointer = Endpointer(CFG)
    for i in range(10):
        endpointer.push(0.0, at(i))

    with pytest.raises(ValueError, match=f"expected window_end_sample > {at(9)}, found {found}$"):
        endpointer.push(0.0, found)


def test_the_first_window_must_end_after_zero() -> None:
    with pytest.raises(ValueError, match="expected window_end_sample > 0, found 0"):
        Endpointer(CFG).push(0.0, 0)


def test_finalize_may_not_go_backwards() -> None:
    endpointer = Endpointer(CFG)
    endpointer.push(0.9, at(9))

    with pytest.raises(ValueError, match=f"expected at_sample >= {at(9)}, found {at(8)}"):
        endpointer.finalize(at(8))


@pytest.mark.parametrize("probability", [-0.1, 1.5, float("nan")])
def test_probability_must_be_a_probability(probability: float) -> None:
    with pytest.raises(ValueError, match="probability"):
        Endpointer(CFG).push(probability, W)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"threshold": 0.0}, "threshold"),
        ({"threshold": 1.0}, "threshold"),
        ({"neg_threshold": 0.6}, "neg_threshold"),
        ({"neg_threshold": -0.1}, "neg_threshold"),
        ({"min_speech_ms": -1}, "min_speech_ms"),
        ({"pre_roll_ms": -1}, "pre_roll_ms"),
        ({"silence_ms": 0, "speculative_silence_ms": 0, "tail_ms": 0}, "silence_ms"),
        ({"speculative_silence_ms": 600}, "speculative_silence_ms"),
        ({"tail_ms": 300}, "tail_ms"),
        ({"window_samples": 0}, "window_samples"),
        ({"max_utterance_s": 0.5}, "max_utterance_s"),
        ({"max_utterance_s": float("inf")}, "max_utterance_s"),
        ({"max_utterance_s": float("nan")}, "max_utterance_s"),
    ],
)
def test_config_is_validated(changes: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VadConfig(**changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("threshold", "neg", "expected"),
    [(0.5, None, 0.35), (0.1, None, 0.01), (0.5, 0.5, 0.5), (0.7, 0.2, 0.2)],
)
def test_the_negative_threshold(threshold: float, neg: float | None, expected: float) -> None:
    config = VadConfig(threshold=threshold, neg_threshold=neg)

    assert config.effective_neg_threshold == pytest.approx(expected)


# --- invariants --------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    runs=st.lists(
        st.tuples(
            st.sampled_from([0.0, 0.2, 0.4, 0.5, 0.9]) | st.floats(0.0, 1.0),
            st.integers(1, 150),
        ),
        max_size=12,
    ),
    steps=st.lists(st.integers(1, 3 * W), min_size=1, max_size=5),
    finalize=st.booleans(),
)
def test_events_always_describe_well_formed_utterances(
    runs: list[tuple[float, int]], steps: list[int], finalize: bool
) -> None:
    config = replace(CFG, max_utterance_s=1.0, pre_roll_ms=450)
    endpointer = Endpointer(config)
    events: list[VadEvent] = []
    now = 0
    for i, p in enumerate(p for p, length in runs for _ in range(length)):
        now += steps[i % len(steps)]  # irregular steps: gaps and overlaps between windows
        events += endpointer.push(p, now)
    if finalize:
        events += endpointer.finalize(now)

    open_start: int | None = None
    previous_end = 0
    paused = False
    for event in events:
        match event:
            case SpeechStarted(start_sample=start, detected_sample=detected):
                assert open_start is None
                assert previous_end <= start <= detected
                open_start = start
            case SpeechPaused(at_sample=at_sample, silence_start_sample=silence, end_sample=end):
                assert open_start is not None
                assert not paused
                assert open_start <= silence < end <= at_sample
                paused = True
            case SpeechResumed():
                assert open_start is not None
                assert paused
                paused = False
            case SpeechEnded(end_sample=end, detected_sample=detected):
                assert open_start is not None
                assert open_start < end <= detected
                assert end - open_start <= config.max_utterance_samples
                previous_end, open_start, paused = end, None, False
    if finalize:
        assert open_start is None
