"""Long audio on every core: faster-whisper's batched pipeline with each batch spread over the
model's CTranslate2 workers.

``BatchedInferencePipeline`` encodes and decodes a batch of ≤ 30 s VAD chunks in one
CTranslate2 call, and one call runs on one worker: with one thread per call (DESIGN.md §10) a
long file used one core while the other idled. Here each chunk of a batch is its own call, and
the calls run side by side on as many threads as the model has workers. On the dev long-form
reading (233 s, tiny.en int8, beam 5, 2 cores) that took 12.25 s down to 7.0 s with the same
text; a live decode arriving meanwhile waits for at most one chunk's call instead of a batch's.

With word timestamps the stock sequential path runs: its aligner carries the previous
batch's last word end into the next batch, so batches must go in order.

One pipeline object per transcription, so that concurrent requests share no state.
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any

from faster_whisper import BatchedInferencePipeline


class ChunkParallelPipeline(BatchedInferencePipeline):  # type: ignore[misc]
    def __init__(self, model: Any, executor: Executor, *, ways: int) -> None:
        super().__init__(model)
        self._executor = executor
        self._ways = ways

    def forward(
        self, features: Any, tokenizer: Any, chunks_metadata: list[Any], options: Any
    ) -> list[Any]:
        """``features``: the batch's log-Mel features, stacked (chunks × mels × frames)."""
        if self._ways < 2 or len(features) < 2 or options.word_timestamps:
            return super().forward(features, tokenizer, chunks_metadata, options)  # type: ignore[no-any-return]
        one = super().forward
        calls = [
            self._executor.submit(
                one, features[i : i + 1], tokenizer, chunks_metadata[i : i + 1], options
            )
            for i in range(len(features))
        ]
        try:
            return [segments for call in calls for segments in call.result()]
        except BaseException:
            for call in calls:  # the request has failed: chunks not yet started never run
                call.cancel()
            raise
