"""A dependency-free speech detector: window energy against an adaptive noise floor.

The fallback when the Silero model cannot run. It knows nothing of speech, only of loudness
relative to the background, so it is good at what matters most for a live stream — silence and
steady noise stay quiet — and weaker where Silero shines (music, babble, very quiet speakers).

Per window: the RMS level in dBFS; the noise floor follows the level quickly downward and slowly
upward while the window is not speech; the signal-to-noise ratio maps to a pseudo-probability
through a logistic curve centred at ``midpoint_db``.

Where the floor starts matters most. Windows quieter than :data:`GATE_DB` (digital silence, a
muted input) score 0 and leave the floor alone; the first window above it is taken as the noise,
so a stream that opens on steady noise — at once or after digital silence — is quiet from its
first window (the price: speech that opens a stream loses its first syllable, until the floor
falls in the first pause). A floor left low when the background gets louder and stays loud (a fan
switched on) is raised to the lowest level of the last ``floor_window_s`` seconds, so a new steady
sound reads as speech for at most that long.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from echoic.types import SAMPLE_RATE
from echoic.vad.detector import WINDOW_SAMPLES, check_window

SILENCE_DB = -100.0  # the level of digital silence: log10(0) has to stop somewhere
GATE_DB = -70.0  # quieter than any microphone's self-noise: digital silence, a muted input
_WINDOWS_PER_S = SAMPLE_RATE / WINDOW_SAMPLES  # 31.25


class EnergyVad:
    """A streaming :class:`~echoic.vad.SpeechDetector` for one stream, in pure numpy.

    ``midpoint_db`` is the SNR that scores 0.5 and ``slope_db`` how many dB move the score by
    about a quarter around it. The floor follows a falling level with a time constant of
    ``floor_down_s`` and a rising one (outside speech) with ``floor_up_s``.
    """

    window_samples = WINDOW_SAMPLES

    def __init__(
        self,
        *,
        midpoint_db: float = 10.0,
        slope_db: float = 2.0,
        floor_down_s: float = 0.1,
        floor_up_s: float = 2.0,
        floor_window_s: float = 2.0,
    ) -> None:
        if slope_db <= 0 or floor_down_s <= 0 or floor_up_s <= 0 or floor_window_s <= 0:
            raise ValueError("slope_db and the floor time constants must be positive")
        self.midpoint_db = midpoint_db
        self.slope_db = slope_db
        self._down = _smoothing(floor_down_s)
        self._up = _smoothing(floor_up_s)
        self._recent_db = np.empty(max(1, round(floor_window_s * _WINDOWS_PER_S)))
        self._floor_db: float | None = None
        self._count = 0  # windows above the gate so far

    @property
    def noise_floor_db(self) -> float | None:
        """The current noise floor in dBFS; ``None`` before the first window."""
        return self._floor_db

    def probability(self, window: npt.ArrayLike) -> float:
        level = level_db(check_window(window, WINDOW_SAMPLES))
        if level < GATE_DB:
            return 0.0  # not a microphone's background: it tells nothing about the floor
        self._recent_db[self._count % self._recent_db.size] = level
        self._count += 1
        floor = level if self._floor_db is None else self._floor_db
        prob = self._score(level - floor)
        if level < floor:
            floor += (level - floor) * self._down
        elif prob < 0.5:
            floor += (level - floor) * self._up
        # Every level of the last seconds above the floor: that is the background now.
        floor = max(floor, float(self._recent_db[: self._count].min()))
        self._floor_db = floor
        return prob

    def reset(self) -> None:
        self._floor_db = None
        self._count = 0

    def _score(self, snr_db: float) -> float:
        x = (snr_db - self.midpoint_db) / self.slope_db
        return 1.0 / (1.0 + math.exp(-x)) if x > -700 else 0.0


def level_db(samples: npt.NDArray[np.float32]) -> float:
    """RMS level in dBFS (a full-scale square wave is 0 dB), at least :data:`SILENCE_DB`."""
    power = float(np.mean(np.square(samples, dtype=np.float64))) if samples.size else 0.0
    return max(SILENCE_DB, 10.0 * math.log10(power)) if power > 0 else SILENCE_DB


def _smoothing(time_constant_s: float) -> float:
    """The per-window weight of an exponential follower with this time constant."""
    return 1.0 - math.exp(-1.0 / (time_constant_s * _WINDOWS_PER_S))
