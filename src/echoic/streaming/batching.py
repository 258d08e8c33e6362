"""Which queued live decodes share a forward pass with the one a worker starts (pure).

A worker that takes a draft or a final may take others queued with the same options along
(:class:`~echoic.streaming.scheduler.ModelScheduler`): the engine says which lengths would share
one pass (:meth:`~echoic.engines.base.BatchEngine.batch_groups`: padding every window to the
longest must not cost more than it saves), and the caller says how many at most.
"""

from __future__ import annotations

from collections.abc import Sequence

from echoic.engines.base import BatchEngine
from echoic.streaming.decoding import DecodeRequest


def shared_pass(
    head: DecodeRequest, queued: Sequence[DecodeRequest], batcher: BatchEngine, limit: int
) -> list[int]:
    """The indexes into ``queued`` of the requests that join ``head``'s call, oldest first: the
    same options, a length the engine batches with ``head``'s, ``limit`` requests in all."""
    limit = min(limit, batcher.batch_limit(head.options))
    candidates = [i for i, q in enumerate(queued) if q.options == head.options]
    if limit < 2 or not candidates:
        return []
    samples = [len(head.audio), *(len(queued[i].audio) for i in candidates)]
    group = next(g for g in batcher.batch_groups(samples, head.options) if 0 in g)
    return [candidates[i - 1] for i in sorted(group) if i > 0][: limit - 1]


def final_share(queued: int, workers: int, on_finals: int) -> int:
    """How many finals a worker takes of ``queued`` + the one it starts: its share among the
    workers not already busy with finals (a draft's call ends soon; a batch of finals does not),
    so that the cores split a burst of finals between them."""
    free = max(1, workers - on_finals)
    return -(-(1 + queued) // free)  # ceil
