"""What every speech detector offers the streaming pipeline: a probability per fixed window."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from echoic.types import Audio

WINDOW_SAMPLES = 512  # 32 ms at 16 kHz: the window Silero VAD v6 was trained on


@runtime_checkable
class SpeechDetector(Protocol):
    """Scores consecutive windows of one 16 kHz mono stream.

    A detector is stateful (Silero carries an LSTM state and context, the energy detector a noise
    floor): feed it the windows of one stream in order, and ``reset`` it before another stream.
    Its probabilities go to :class:`echoic.vad.Endpointer`, which turns them into utterances.
    """

    @property
    def window_samples(self) -> int:
        """How many samples ``probability`` takes, exactly."""
        ...

    def probability(self, window: Audio) -> float:
        """The probability in [0, 1] that ``window`` (the stream's next window) holds speech."""
        ...

    def reset(self) -> None:
        """Forget the stream so far."""
        ...


def check_window(window: npt.ArrayLike, window_samples: int) -> Audio:
    """``window`` as 1-D float32 of exactly ``window_samples`` samples, else :class:`ValueError`."""
    array = np.asarray(window, dtype=np.float32)
    if array.shape != (window_samples,):
        raise ValueError(
            f"expected one window of {window_samples} samples, got shape {array.shape}"
        )
    return array
