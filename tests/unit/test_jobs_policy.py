"""Pure pieces of the jobs path: retry backoff, retention, chunking, job options."""

from __future__ import annotations

import random

import pytest

from echoic.chunks import chunk_segments
from echoic.diarize.types import SpeakerCount
from echoic.errors import InvalidParameterError
from echoic.jobs.options import JobOptions
from echoic.jobs.retry import JobRetry
from echoic.storage.store import DAY_S, Retention
from echoic.types import Segment, SttMode, Task


@pytest.mark.parametrize(
    ("attempts", "max_attempts", "retryable", "bound"),
    [
        (1, 3, True, 2.0),  # base · 2⁰
        (2, 3, True, 4.0),  # base · 2¹
        (3, 3, True, None),  # out of attempts
        (1, 3, False, None),  # a permanent error
        (1, 1, True, None),
        (9, 20, True, 300.0),  # capped
    ],
)
def test_job_retry_backs_off_with_full_jitter(
    attempts: int, max_attempts: int, retryable: bool, bound: float | None
) -> None:
    policy = JobRetry(base_s=2.0, max_s=300.0)
    rng = random.Random(7)
    delays = [
        policy.delay(attempts=attempts, max_attempts=max_attempts, retryable=retryable, rng=rng)
        for _ in range(200)
    ]
    if bound is None:
        assert set(delays) == {None}
        return
    values = [d for d in delays if d is not None]
    assert len(values) == 200
    assert all(0.0 <= d <= bound for d in values)
    assert max(values) > 0.8 * bound  # spread over the whole range, not a fixed delay
    assert min(values) < 0.2 * bound


@pytest.mark.parametrize(
    ("value", "keep_s"),
    [("forever", None), ("FOREVER", None), ("0", 0.0), ("30", 30 * DAY_S), ("0.5", DAY_S / 2)],
)
def test_retention_parses(value: str, keep_s: float | None) -> None:
    retention = Retention.parse(value)
    assert retention.keep_s == keep_s
    assert retention.delete_after(100.0) == (None if keep_s is None else 100.0 + keep_s)


@pytest.mark.parametrize("value", ["-1", "never", "nan", "inf"])
def test_retention_refuses_nonsense(value: str) -> None:
    with pytest.raises(ValueError, match=r"retention|could not convert"):
        Retention.parse(value)


def seg(i: int, start: float, end: float, text: str, speaker: str | None = None) -> Segment:
    return Segment(id=i, start=start, end=end, text=text, speaker=speaker)


def test_chunks_join_segments_up_to_the_limits() -> None:
    segments = [seg(i, 10.0 * i, 10.0 * i + 9, f"sentence number {i}.") for i in range(10)]
    chunks = chunk_segments(segments, max_chars=60, max_s=1000)
    assert [c.segment_ids for c in chunks] == [(0, 1, 2), (3, 4, 5), (6, 7, 8), (9,)]
    assert chunks[0].text == "sentence number 0. sentence number 1. sentence number 2."
    assert (chunks[0].start, chunks[0].end) == (0.0, 29.0)
    assert [c.index for c in chunks] == [0, 1, 2, 3]
    by_time = chunk_segments(segments, max_chars=10_000, max_s=25)
    assert [c.segment_ids for c in by_time] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]


def test_chunks_never_cross_a_change_of_speaker_and_keep_long_segments_whole() -> None:
    segments = [
        seg(0, 0, 1, "hello", "SPEAKER_00"),
        seg(1, 1, 2, "hi", "SPEAKER_01"),
        seg(2, 2, 3, "x" * 500, "SPEAKER_01"),
    ]
    chunks = chunk_segments(segments, max_chars=100)
    assert [c.segment_ids for c in chunks] == [(0,), (1,), (2,)]
    assert chunk_segments([]) == []


def test_job_options_survive_json() -> None:
    options = JobOptions(
        model="base",
        task=Task.TRANSLATE,
        language="de",
        prompt="Glossary: echoic.",
        temperature=0.2,
        beam_size=3,
        word_timestamps=True,
        stt_mode=SttMode.FORCE_LOCAL,
    )
    body = options.to_dict()
    assert body["task"] == "translate"
    assert JobOptions.from_dict(body) == options
    assert JobOptions.from_dict({"model": "tiny.en", "unknown": 1}) == JobOptions(model="tiny.en")
    decode = options.transcribe_options(
        beam_size=5, vad_filter=True, batched_threshold_s=60, batch_size=8
    )
    assert (decode.beam_size, decode.temperature, decode.mode) == (3, 0.2, SttMode.FORCE_LOCAL)
    defaults = JobOptions().transcribe_options(
        beam_size=5, vad_filter=False, batched_threshold_s=30, batch_size=4
    )
    assert (defaults.beam_size, defaults.vad_filter, defaults.batch_size) == (5, False, 4)
    assert defaults.temperature == (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def test_job_options_keep_diarization_and_leave_it_out_when_not_asked() -> None:
    options = JobOptions(model="base", diarization=True, min_speakers=2, max_speakers=3)
    body = options.to_dict()
    assert body == {
        "model": "base",
        "task": "transcribe",
        "word_timestamps": False,
        "diarization": True,
        "min_speakers": 2,
        "max_speakers": 3,
    }
    assert JobOptions.from_dict(body) == options
    assert options.speaker_count == SpeakerCount(min_speakers=2, max_speakers=3)
    decode = options.transcribe_options(
        beam_size=5, vad_filter=True, batched_threshold_s=60, batch_size=8
    )
    # Not for the whole file: only segments two speakers share are decoded again with them.
    assert not decode.word_timestamps
    assert "diarization" not in JobOptions(model="base").to_dict()
    assert JobOptions(model="base").speaker_count is None
    with pytest.raises(InvalidParameterError) as bad:
        _ = JobOptions(diarization=True, num_speakers=0).speaker_count
    assert bad.value.param == "num_speakers"
