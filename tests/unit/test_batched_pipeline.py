"""The long-file pipeline: each chunk of a batch is its own call on the chunk executor, and the
results come back in the batch's order."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from faster_whisper import BatchedInferencePipeline

from echoic.engines.batched import ChunkParallelPipeline


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[int], str]]:
    """Stand in for faster-whisper's forward: each chunk's "segments" are its id; the later
    chunks answer first, so that an ordering bug shows."""
    seen: list[tuple[list[int], str]] = []

    def forward(
        self: Any, features: Any, tokenizer: Any, chunks_metadata: list[Any], options: Any
    ) -> list[Any]:
        ids = [int(f[0, 0]) for f in features]
        seen.append((ids, threading.current_thread().name))
        time.sleep(0.02 * (4 - ids[0]))
        return [[f"segment {i}"] for i in ids]

    monkeypatch.setattr(BatchedInferencePipeline, "forward", forward)
    return seen


def batch(n: int) -> tuple[Any, list[Any]]:
    features = np.stack([np.full((2, 3), i, dtype=np.float32) for i in range(n)])
    return features, [{"offset": float(i)} for i in range(n)]


def test_each_chunk_is_its_own_call_and_the_order_is_kept(
    calls: list[tuple[list[int], str]],
) -> None:
    features, meta = batch(3)
    with ThreadPoolExecutor(2, thread_name_prefix="chunks") as executor:
        pipeline = ChunkParallelPipeline(None, executor, ways=2)
        out = pipeline.forward(features, None, meta, SimpleNamespace(word_timestamps=False))
    assert out == [["segment 0"], ["segment 1"], ["segment 2"]]
    assert sorted(ids for ids, _ in calls) == [[0], [1], [2]]
    assert {thread for _, thread in calls} <= {"chunks_0", "chunks_1"}
    assert len({thread for _, thread in calls}) == 2  # side by side


@pytest.mark.parametrize(
    ("ways", "word_timestamps"), [(1, False), (2, True)], ids=["one worker", "word timestamps"]
)
def test_one_call_per_batch_with_one_worker_or_word_timestamps(
    calls: list[tuple[list[int], str]], ways: int, word_timestamps: bool
) -> None:
    features, meta = batch(3)
    with ThreadPoolExecutor(2, thread_name_prefix="chunks") as executor:
        pipeline = ChunkParallelPipeline(None, executor, ways=ways)
        options = SimpleNamespace(word_timestamps=word_timestamps)
        out = pipeline.forward(features, None, meta, options)
    assert out == [["segment 0"], ["segment 1"], ["segment 2"]]
    assert [ids for ids, _ in calls] == [[0, 1, 2]]
    assert not calls[0][1].startswith("chunks")  # on the caller's thread


def test_a_failing_chunk_cancels_the_chunks_not_yet_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran: list[int] = []

    def forward(
        self: Any, features: Any, tokenizer: Any, chunks_metadata: list[Any], options: Any
    ) -> list[Any]:
        chunk = int(features[0][0, 0])
        ran.append(chunk)
        if chunk == 0:
            raise RuntimeError("decoder failure")
        time.sleep(0.05)
        return [[f"segment {chunk}"]]

    monkeypatch.setattr(BatchedInferencePipeline, "forward", forward)
    features, meta = batch(8)
    with ThreadPoolExecutor(2, thread_name_prefix="chunks") as executor:
        pipeline = ChunkParallelPipeline(None, executor, ways=2)
        with pytest.raises(RuntimeError, match="decoder failure"):
            pipeline.forward(features, None, meta, SimpleNamespace(word_timestamps=False))
    assert len(ran) <= 3  # chunk 0, the one beside it, at most one more: not all eight
