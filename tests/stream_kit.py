"""Synthetic audio and a deterministic speech detector for the live-streaming tests.

Speech is a tone (RMS ≈ 0.21), silence is digital zeros: :class:`RmsDetector` tells them apart
exactly, so every VAD decision in a test follows from the audio it was given.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

import numpy as np

from echoic.types import SAMPLE_RATE, Audio

T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T], *, timeout_s: float = 10.0) -> T:
    """``asyncio.run`` under a deadline, so that a deadlock fails the test instead of hanging it,
    on a loop that fails the test on what it would only log (a task exception never retrieved).
    """
    reported: list[dict[str, Any]] = []

    async def main() -> T:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: reported.append(context))
        result = await asyncio.wait_for(coroutine, timeout_s)
        gc.collect()  # a task is reported when it is collected
        return result

    result = asyncio.run(main())
    gc.collect()
    assert not reported, reported
    return result


class RmsDetector:
    """Probability 1.0 for a window whose RMS exceeds ``level``, else 0.0 (a `SpeechDetector`)."""

    def __init__(self, window_samples: int = 512, *, level: float = 0.01) -> None:
        self._window_samples = window_samples
        self.level = level
        self.resets = 0

    @property
    def window_samples(self) -> int:
        return self._window_samples

    def probability(self, window: Audio) -> float:
        if window.shape != (self._window_samples,):
            raise ValueError(f"expected {self._window_samples} samples, got {window.shape}")
        rms = float(np.sqrt(np.mean(np.square(window, dtype=np.float64))))
        return 1.0 if rms > self.level else 0.0

    def reset(self) -> None:
        self.resets += 1


def samples(ms: int) -> int:
    return ms * SAMPLE_RATE // 1000


def speech(ms: int, *, amplitude: float = 0.3) -> Audio:
    """A 440 Hz tone: loud enough for any detector to call it speech."""
    t = np.arange(samples(ms)) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)


def silence(ms: int) -> Audio:
    return np.zeros(samples(ms), dtype=np.float32)


def noise(ms: int, *, amplitude: float = 1e-3, seed: int = 0) -> Audio:
    """A quiet background (≈ -63 dBFS): what a microphone hears between words."""
    rng = np.random.default_rng(seed)
    return (amplitude * rng.standard_normal(samples(ms))).astype(np.float32)


def chunks(audio: Audio, chunk_ms: int = 20) -> list[Audio]:
    """``audio`` cut into the frames a client would send."""
    size = samples(chunk_ms)
    return [audio[i : i + size] for i in range(0, len(audio), size)]
