"""A fixed-size ring of float32 samples addressed by absolute sample index.

A live stream keeps the recent audio of the open utterance here: the VAD names utterances by
absolute sample positions (``[start_sample, end_sample)``) and the decoder reads exactly that
range back. Memory is allocated once; a write copies into the ring and never grows an array.
When the ring is full the oldest samples make room and ``write`` says how many were dropped, so
the caller can count them (``frames_dropped``) instead of losing them silently.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from echoic.types import Audio


class RingBuffer:
    """The last ``capacity`` samples of a stream.

    ``end`` is the number of samples ever written (the absolute index the next sample will get);
    ``start`` is the absolute index of the oldest sample still held, so the buffer holds
    ``[start, end)`` and ``len(buffer) == end - start``.
    """

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be a positive number of samples, got {capacity}")
        self.capacity = capacity
        self._ring: Audio = np.zeros(capacity, dtype=np.float32)
        self._end = 0
        self._held = 0

    @property
    def start(self) -> int:
        return self._end - self._held

    @property
    def end(self) -> int:
        return self._end

    def __len__(self) -> int:
        return self._held

    def write(self, samples: npt.ArrayLike) -> int:
        """Append ``samples``; return how many old samples were dropped to make room.

        A write longer than ``capacity`` keeps only its last ``capacity`` samples; the samples
        it pushes out (held ones first, then its own head) all count as dropped.
        """
        data = np.asarray(samples, dtype=np.float32)
        if data.ndim != 1:
            raise ValueError(f"expected 1-D samples, got shape {data.shape}")
        n = data.size
        kept = data[-self.capacity :] if n > self.capacity else data
        k = kept.size
        pos = (self._end + n - k) % self.capacity  # where the first kept sample lands
        first = min(k, self.capacity - pos)
        self._ring[pos : pos + first] = kept[:first]
        self._ring[: k - first] = kept[first:]
        dropped = max(0, self._held + n - self.capacity)
        self._held = min(self._held + n, self.capacity)
        self._end += n
        return dropped

    def read(self, start: int, end: int) -> Audio:
        """A copy of the samples at absolute indices ``[start, end)``.

        Raises :class:`ValueError` naming the held range when any of them is not held (already
        dropped, or not yet written).
        """
        if start > end:
            raise ValueError(f"range [{start}, {end}) ends before it starts")
        if start < self.start or end > self._end:
            raise ValueError(
                f"samples [{start}, {end}) are not all held; the buffer holds "
                f"[{self.start}, {self._end})"
            )
        pos = start % self.capacity
        n = end - start
        first = min(n, self.capacity - pos)
        out: Audio = np.empty(n, dtype=np.float32)
        out[:first] = self._ring[pos : pos + first]
        out[first:] = self._ring[: n - first]
        return out
