"""Live drafts and finals of several streams as one batched forward pass, with the real models
on real speech: a batched window says what the same window alone says, or nearly (only its
padding differs), in the order the windows came, with the same word timings."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from echoic.audio import decode_audio
from echoic.bench.text import count_errors
from echoic.engines.base import BatchEngine
from echoic.engines.faster_whisper import MAX_BATCH, FasterWhisperEngine
from echoic.engines.registry import EnginePool
from echoic.engines.window import length_groups
from echoic.streaming.config import StreamConfig
from echoic.types import SAMPLE_RATE, Audio, TranscribeOptions

pytestmark = pytest.mark.slow

DRAFT = StreamConfig().draft_options


@pytest.fixture(scope="module")
def drafts(eval_dir: Path) -> list[Audio]:
    """16 draft windows of dev speech: the first 1.5–8 s of as many utterances, as a live
    stream's drafts would be cut."""
    rows = [json.loads(line) for line in (eval_dir / "manifest.jsonl").read_text().splitlines()]
    rng = np.random.default_rng(0)
    windows = []
    for row in rows[:: len(rows) // 16][:16]:
        audio = decode_audio(eval_dir / row["audio"])
        windows.append(audio[: int(min(len(audio), rng.uniform(1.5, 8.0) * SAMPLE_RATE))])
    return windows


def test_the_engine_batches_right_sized_windows(tiny: FasterWhisperEngine) -> None:
    assert isinstance(tiny, BatchEngine)
    assert tiny.batch_limit(DRAFT) == MAX_BATCH
    assert tiny.batch_limit(StreamConfig().final_options) == MAX_BATCH  # finals, with words
    assert tiny.batch_limit(TranscribeOptions()) == 1  # stock 30 s windows


def test_finals_in_a_batch_keep_their_words_and_timings(
    tiny: FasterWhisperEngine, drafts: list[Audio]
) -> None:
    """Each window's words are aligned on its own part of the batch's encoder output."""
    final = StreamConfig().final_options
    n = 4 * SAMPLE_RATE
    windows = [w[:n] for w in drafts if len(w) >= n][:4]
    assert len(windows) >= 3

    alone = [tiny.transcribe_sync(w, final) for w in windows]
    together = tiny.transcribe_batch_sync(windows, final)

    assert [t.text for t in together] == [t.text for t in alone]
    for batched, single in zip(together, alone, strict=True):
        words = [w for s in batched.segments for w in s.words or ()]
        expected = [w for s in single.segments for w in s.words or ()]
        assert [w.word for w in words] == [w.word for w in expected] != []
        assert [w.start for w in words] == pytest.approx([w.start for w in expected], abs=0.05)
        assert [w.end for w in words] == pytest.approx([w.end for w in expected], abs=0.05)
    assert all(t.metadata.batched for t in together)


def test_windows_of_one_length_decode_exactly_as_alone(
    tiny: FasterWhisperEngine, drafts: list[Audio]
) -> None:
    """Equal lengths pad equally: the batch changes nothing but the speed."""
    n = 3 * SAMPLE_RATE
    windows = [w[:n] for w in drafts if len(w) >= n][:6]
    assert len(windows) >= 4

    alone = [tiny.transcribe_sync(w, DRAFT) for w in windows]
    together = tiny.transcribe_batch_sync(windows, DRAFT)

    assert [t.text for t in together] == [t.text for t in alone]
    assert all(t.text for t in alone)
    assert [t.segments[0].avg_logprob for t in together] == pytest.approx(
        [t.segments[0].avg_logprob for t in alone], abs=1e-3
    )
    assert all(t.metadata.batched for t in together)


def test_windows_of_mixed_lengths_come_back_in_order_and_say_nearly_the_same(
    tiny: FasterWhisperEngine, drafts: list[Audio]
) -> None:
    """A window shorter than its batch's longest is padded further; that shifts a word now and
    then, as a different encoder padding alone does (a 0.5 s longer pad changed about 6 % of the
    words of such drafts)."""
    alone = [tiny.transcribe_sync(w, DRAFT) for w in drafts]
    together = tiny.transcribe_batch_sync(drafts, DRAFT)

    assert [t.duration for t in together] == pytest.approx([len(w) / SAMPLE_RATE for w in drafts])
    reference = " ".join(t.text for t in alone)
    counts = count_errors(reference, " ".join(t.text for t in together))
    assert counts.wer <= 0.08, (reference, [t.text for t in together])
    same = sum(a.text == b.text for a, b in zip(alone, together, strict=True))
    assert same >= len(drafts) // 2


def test_silence_in_a_batch_stays_silent_and_speech_beside_it_is_heard(
    tiny: FasterWhisperEngine, drafts: list[Audio]
) -> None:
    silence = np.zeros(3 * SAMPLE_RATE, dtype=np.float32)
    speech = drafts[0][: 3 * SAMPLE_RATE]

    quiet, heard = tiny.transcribe_batch_sync([silence, speech], DRAFT)

    assert quiet.text == ""
    assert quiet.segments == ()
    assert heard.text == tiny.transcribe_sync(speech, DRAFT).text != ""


def test_what_does_not_batch_goes_one_by_one_with_the_same_result(
    tiny: FasterWhisperEngine, drafts: list[Audio]
) -> None:
    """Stock 30 s windows and windows over 30 s take the single path."""
    stock = TranscribeOptions(beam_size=1, language="en")
    windows = drafts[:2]
    assert [t.text for t in tiny.transcribe_batch_sync(windows, stock)] == [
        tiny.transcribe_sync(w, stock).text for w in windows
    ]
    long = np.concatenate(drafts)[: 31 * SAMPLE_RATE]
    short = drafts[1]
    long_batched, short_batched = tiny.transcribe_batch_sync([long, short], DRAFT)
    assert long_batched.text == tiny.transcribe_sync(long, DRAFT).text
    assert short_batched.text == tiny.transcribe_sync(short, DRAFT).text
    assert long_batched.duration == pytest.approx(31.0)


def test_a_multilingual_model_detects_each_windows_language(
    pool: EnginePool, drafts: list[Audio]
) -> None:
    base = pool.get("base")
    undetermined = replace(DRAFT, language=None)
    windows = [drafts[0][: 3 * SAMPLE_RATE], drafts[1][: 3 * SAMPLE_RATE]]

    together = base.transcribe_batch_sync(windows, undetermined)

    assert [t.language for t in together] == ["en", "en"]
    assert [t.text for t in together] == [
        base.transcribe_sync(w, undetermined).text for w in windows
    ]


def test_the_async_call_runs_off_the_event_loop(
    tiny: FasterWhisperEngine, drafts: list[Audio]
) -> None:
    async def scenario() -> list[str]:
        transcripts = await tiny.transcribe_batch(drafts[:3], DRAFT)
        return [t.text for t in transcripts]

    expected = [t.text for t in tiny.transcribe_batch_sync(drafts[:3], DRAFT)]
    assert asyncio.run(scenario()) == expected


@pytest.mark.parametrize(
    ("seconds", "groups"),
    [
        ((2.0, 2.1, 2.2, 2.4), [[0, 1, 2, 3]]),  # close: one batch
        ((2.0, 20.0), [[0], [1]]),  # a 2 s draft padded to 22 s would cost 5x its own
        ((9.0, 2.0, 8.0, 2.5), [[1, 3], [2, 0]]),  # shortest first, each with its likes
    ],
)
def test_length_groups_keep_padding_waste_small(
    seconds: tuple[float, ...], groups: list[list[int]]
) -> None:
    samples = [int(s * SAMPLE_RATE) for s in seconds]
    assert length_groups(samples, 2.0) == groups
    assert sorted(i for g in length_groups(samples, 2.0) for i in g) == list(range(len(seconds)))


def test_the_engine_says_how_a_batch_splits_into_passes(tiny: FasterWhisperEngine) -> None:
    samples = [int(s * SAMPLE_RATE) for s in (2.0, 31.0, 2.2, 20.0)]
    assert tiny.batch_groups(samples, DRAFT) == [[0, 2], [3], [1]]  # over 30 s: alone
    assert tiny.batch_groups(samples, TranscribeOptions()) == [[0], [1], [2], [3]]
