"""Speaker labels on a live stream's finals: the session's part, with synthetic embeddings.

The runner hands each final's voice embedding in with its decode result; the session labels
the finals in utterance order, whatever order the decodes answer in.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt
import pytest

from echoic.engines.scripted import ScriptedEngine
from echoic.streaming.decoding import DecodeRequest, DecodeResult
from echoic.streaming.events import EventType
from echoic.streaming.protocol import ProtocolError, StartMessage, parse_start
from tests.stream_kit import silence, speech
from tests.unit.test_online_speakers import utterance
from tests.unit.test_stream_session import QUIET, Driver

DIARIZED = replace(QUIET, diarization=True)


def utterances(driver: Driver, n: int) -> list[DecodeRequest]:
    """``n`` utterances of 300 ms, 400 ms apart; their final requests."""
    driver.feed(silence(200))
    for _ in range(n):
        driver.feed(speech(300))
        driver.feed(silence(400))
    finals = driver.finals()
    assert len(finals) == n
    return finals


def answer(
    driver: Driver, request: DecodeRequest, text: str, embedding: npt.NDArray[np.float32] | None
) -> None:
    transcript = ScriptedEngine.saying(text, delay_s=0.0).transcribe_sync(
        request.audio, request.options
    )
    result = DecodeResult(
        request_id=request.id,
        transcript=transcript,
        started_at=driver.now,
        finished_at=driver.now,
        embedding=embedding,
    )
    driver.take(driver.session.on_result(result, driver.now))


def test_finals_carry_speakers_assigned_in_utterance_order() -> None:
    driver = Driver(DIARIZED)
    requests = utterances(driver, 4)
    voices = [1, 0, 1, 2]  # voice 1 speaks first: it is SPEAKER_00
    # The decodes answer last to first: the labels still follow the utterances.
    for index in reversed(range(4)):
        answer(driver, requests[index], f"u{index}", utterance(voices[index], index))

    finals = driver.of(EventType.FINAL)
    assert [(f["text"], f["speaker"]) for f in finals] == [
        ("u0", "SPEAKER_00"),
        ("u1", "SPEAKER_01"),
        ("u2", "SPEAKER_00"),
        ("u3", "SPEAKER_02"),
    ]
    for final in finals:
        assert final["segments"]
        assert {s["speaker"] for s in final["segments"]} == {final["speaker"]}


def test_a_final_without_an_embedding_keeps_the_previous_speaker() -> None:
    driver = Driver(DIARIZED)
    requests = utterances(driver, 3)
    answer(driver, requests[0], "too short", None)
    answer(driver, requests[1], "hello", utterance(3, 1))
    answer(driver, requests[2], "yes", None)
    assert [f["speaker"] for f in driver.of(EventType.FINAL)] == [None, "SPEAKER_00", "SPEAKER_00"]


def test_a_final_without_words_opens_no_speaker() -> None:
    driver = Driver(DIARIZED)
    requests = utterances(driver, 3)
    answer(driver, requests[0], "hello", utterance(0, 0))
    answer(driver, requests[1], "", utterance(2, 1))  # noise: a voice of its own, but no words
    answer(driver, requests[2], "and you", utterance(1, 2))
    assert [f["speaker"] for f in driver.of(EventType.FINAL)] == [
        "SPEAKER_00",
        "SPEAKER_00",
        "SPEAKER_01",
    ]


def test_max_speakers_bounds_the_labels() -> None:
    driver = Driver(replace(DIARIZED, max_speakers=1))
    requests = utterances(driver, 2)
    for index, request in enumerate(requests):
        answer(driver, request, "x", utterance(index, index))
    assert [f["speaker"] for f in driver.of(EventType.FINAL)] == ["SPEAKER_00"] * 2


def test_a_stream_that_does_not_diarize_has_no_speaker_fields() -> None:
    driver = Driver(QUIET)
    [request] = utterances(driver, 1)
    answer(driver, request, "plain", utterance(0, 0))  # an embedding, unasked: ignored
    [final] = driver.of(EventType.FINAL)
    assert "speaker" not in final
    assert all("speaker" not in s for s in final["segments"])


# --- the start message ----------------------------------------------------------------------------


def test_diarization_in_start_reaches_the_stream_config() -> None:
    start = parse_start({"type": "start", "diarization": True, "max_speakers": 3})
    assert isinstance(start, StartMessage)
    config = start.stream_config(QUIET, speculative=False)
    assert (config.diarization, config.max_speakers) == (True, 3)
    # Query parameters arrive as strings.
    start = parse_start({"diarization": "true"})
    assert isinstance(start, StartMessage)
    assert start.stream_config(QUIET, speculative=False).diarization
    assert not StartMessage().stream_config(QUIET, speculative=False).diarization


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"diarization": "sometimes"}, "diarization: Input should be a valid boolean"),
        ({"diarization": True, "max_speakers": 0}, "max_speakers: Input should be greater"),
        ({"diarization": True, "max_speakers": 33}, "max_speakers: Input should be less"),
        ({"diarization": True, "max_speakers": "two"}, "max_speakers: Input should be a valid"),
        ({"max_speakers": 2}, "max_speakers needs diarization: true"),
        (
            {"diarization": True, "client_transcripts": True},
            "diarization does not combine with client_transcripts",
        ),
    ],
)
def test_bad_diarization_fields_are_an_invalid_start(
    fields: dict[str, object], message: str
) -> None:
    error = parse_start({"type": "start", **fields})
    assert isinstance(error, ProtocolError)
    assert error.code == "invalid_start"
    assert message in error.message
