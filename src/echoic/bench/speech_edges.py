"""Where a recording's speech starts and ends, from frame energy alone (pure numpy).

The dev sessions' sidecars give each utterance's ``speech_start_s``/``speech_end_s`` as "an
energy-based estimate of the first/last speech frame"; assembled sessions estimate theirs the
same way, so the two kinds of session are scored alike:

- the clip is cut into 10 ms frames and each frame's level taken in dBFS;
- a frame is loud when its level passes ``max(floor + 15 dB, loud − 30 dB)``, where ``floor`` is
  the 10th percentile of the frames above digital silence (the room) and ``loud`` the 99th
  percentile (the voice): clean studio audio gets a threshold 30 dB under its voice, noisy
  recordings one 15 dB over their noise;
- loud frames at most 20 ms apart form a run; runs shorter than 50 ms (clicks, lip smacks) are
  not speech; speech spans the first run's start to the last run's end.

Against the dev sessions' own estimates (20 ms frames) it agrees within 40 ms on 39 of their 42
edges, median 10 ms (``tests/integration/test_bench_sessions.py`` keeps it so).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from echoic.types import SAMPLE_RATE, Audio

FRAME_S = 0.01
FRAME_SAMPLES = round(FRAME_S * SAMPLE_RATE)  # 160 samples in a 10 ms frame
SILENCE_DB = -100.0  # the level of digital silence: log10(0) has to stop somewhere
GATE_DB = -70.0  # quieter than any room: digital silence, which says nothing about the floor
FLOOR_PERCENTILE = 10.0
LOUD_PERCENTILE = 99.0
OVER_FLOOR_DB = 15.0
UNDER_LOUD_DB = 30.0
BRIDGE_FRAMES = 2  # loud frames with at most 20 ms of quieter ones between them: one run
MIN_RUN_FRAMES = 5  # a run of under 50 ms is a click, not speech

Levels = npt.NDArray[np.float64]


@dataclass(frozen=True, kw_only=True)
class SpeechEdges:
    """The speech of one clip, in samples of that clip (``end`` exclusive)."""

    start: int
    end: int
    #: The level (dBFS) a 10 ms frame had to pass to count as loud; quieter frames are pauses.
    threshold_db: float

    @property
    def start_s(self) -> float:
        return self.start / SAMPLE_RATE

    @property
    def end_s(self) -> float:
        return self.end / SAMPLE_RATE


def frame_levels_db(audio: Audio) -> Levels:
    """The level of each whole 10 ms frame in dBFS (a last partial frame is dropped)."""
    frames = len(audio) // FRAME_SAMPLES
    blocks = np.asarray(audio[: frames * FRAME_SAMPLES], dtype=np.float64)
    power = np.mean(blocks.reshape(frames, FRAME_SAMPLES) ** 2, axis=1)
    with np.errstate(divide="ignore"):
        levels = 10.0 * np.log10(power)
    clipped: Levels = np.maximum(levels, SILENCE_DB)
    return clipped


def loud_threshold_db(levels: Levels) -> float:
    live = levels[levels > GATE_DB]
    if not live.size:
        return float("inf")  # digital silence throughout: nothing is loud
    floor = float(np.percentile(live, FLOOR_PERCENTILE))
    loud = float(np.percentile(levels, LOUD_PERCENTILE))
    return max(floor + OVER_FLOOR_DB, loud - UNDER_LOUD_DB)


def speech_runs(levels: Levels, threshold_db: float) -> list[tuple[int, int]]:
    """Runs of loud frames as ``(first, end)`` frame indices (``end`` exclusive)."""
    runs: list[list[int]] = []
    for index in np.flatnonzero(levels > threshold_db).tolist():
        if runs and index - runs[-1][1] <= BRIDGE_FRAMES:
            runs[-1][1] = index + 1
        else:
            runs.append([index, index + 1])
    return [(first, end) for first, end in runs if end - first >= MIN_RUN_FRAMES]


def speech_edges(audio: Audio) -> SpeechEdges:
    """Where the speech of ``audio`` starts and ends; ``ValueError`` when none is found."""
    levels = frame_levels_db(audio)
    threshold = loud_threshold_db(levels)
    runs = speech_runs(levels, threshold)
    if not runs:
        raise ValueError("no speech found (no 50 ms of sound above the room)")
    return SpeechEdges(
        start=runs[0][0] * FRAME_SAMPLES,
        end=min(len(audio), runs[-1][1] * FRAME_SAMPLES),
        threshold_db=threshold,
    )
