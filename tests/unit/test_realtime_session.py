"""An OpenAI Realtime session in echoic's stream terms (echoic.server.realtime_session)."""

from __future__ import annotations

import pytest

from echoic.errors import InvalidRequestError
from echoic.server.realtime_events import NoiseReduction, SessionConfig, TurnDetection
from echoic.server.realtime_session import start_message, stream_changes, with_session
from echoic.streaming.config import StreamConfig
from echoic.streaming.modes import StreamMode


def test_a_session_and_echoics_query_make_a_start_message() -> None:
    session = SessionConfig(
        sample_rate=24000,
        model="tiny.en",
        language="en",
        turn_detection=TurnDetection(threshold=0.6, silence_duration_ms=700),
    )
    start = start_message(session, {"mode": "speculative", "token": "ignored", "other": "x"})

    assert (start.sample_rate, start.model, start.language) == (24000, "tiny.en", "en")
    assert start.mode is StreamMode.SPECULATIVE
    assert start.vad is not None
    assert (start.vad.threshold, start.vad.silence_ms) == (0.6, 700)


def test_default_turn_detection_and_manual_commits_leave_the_vad_alone() -> None:
    assert start_message(SessionConfig(), {}).vad is None
    assert start_message(SessionConfig(turn_detection=None), {}).vad is None


def test_a_value_a_stream_does_not_take_is_a_400() -> None:
    with pytest.raises(InvalidRequestError, match="invalid session"):
        start_message(SessionConfig(), {"mode": "sideways"})


def test_the_pre_roll_and_the_prompt_reach_the_stream_config() -> None:
    base = StreamConfig()
    session = SessionConfig(turn_detection=TurnDetection(prefix_padding_ms=120), prompt="Gdańsk")

    config = with_session(base, session)

    assert config.vad.pre_roll_ms == 120
    assert config.draft_options.prompt == config.final_options.prompt == "Gdańsk"
    assert with_session(base, SessionConfig()) == base


def test_only_changes_to_the_stream_need_a_new_one() -> None:
    session = SessionConfig()
    assert not stream_changes(session, session.replace(noise_reduction=NoiseReduction()))
    assert not stream_changes(session, session.replace(include=("item.input_audio_logprobs",)))
    assert stream_changes(session, session.replace(language="de"))
    assert stream_changes(session, session.replace(turn_detection=None))
