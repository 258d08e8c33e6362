"""From speech regions to embedding windows, and from labelled windows to turns (pure).

Times are in encoder frames (10 ms) until :func:`turns_from_windows` turns them into seconds.
A region no longer than the encoder's training window (1.6 s) is embedded whole; a longer one is
covered by windows of that length every ``hop`` frames, the last one flush with the region's
end. Each frame of speech then takes the label of the window whose centre is nearest (within its
region when the region has windows, else the nearest labelled window anywhere: a region too short
to embed reliably belongs to whoever spoke closest to it in time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from echoic.diarize.types import SpeakerTurns, Turn

FRAME_S = 0.01


@dataclass(frozen=True)
class Span:
    """``[start, end)`` in frames."""

    start: int
    end: int

    @property
    def centre(self) -> float:
        return (self.start + self.end) / 2

    def __len__(self) -> int:
        return self.end - self.start


def plan_windows(
    regions: Sequence[Span], *, length: int, hop: int, min_length: int
) -> list[tuple[int, Span]]:
    """``(region index, window)`` pairs covering every region at least ``min_length`` long."""
    planned: list[tuple[int, Span]] = []
    for index, region in enumerate(regions):
        if len(region) < min_length:
            continue
        if len(region) <= length:
            planned.append((index, region))
            continue
        starts = list(range(region.start, region.end - length + 1, hop))
        if starts[-1] + length < region.end:
            starts.append(region.end - length)
        planned += [(index, Span(s, s + length)) for s in starts]
    return planned


def turns_from_windows(
    regions: Sequence[Span],
    windows: Sequence[tuple[int, Span]],
    labels: Sequence[str],
    *,
    min_turn: int = 0,
) -> SpeakerTurns:
    """Label every frame of every region from the nearest window and join runs into turns.

    A run shorter than ``min_turn`` frames inside a region goes to its longer neighbour (a
    speaker change needs some evidence); consecutive turns of one speaker that touch merge.
    """
    if not windows:
        return SpeakerTurns()
    by_region: dict[int, list[tuple[Span, str]]] = {}
    for (index, window), label in zip(windows, labels, strict=True):
        by_region.setdefault(index, []).append((window, label))
    everywhere = [(w, label) for (_, w), label in zip(windows, labels, strict=True)]
    runs: list[tuple[int, int, str]] = []
    for index, region in enumerate(regions):
        candidates = by_region.get(index, everywhere)
        region_runs: list[tuple[int, int, str]] = []
        for frame in range(region.start, region.end):
            centre = frame + 0.5
            _, label = min(candidates, key=lambda c: abs(c[0].centre - centre))
            if region_runs and region_runs[-1][2] == label:
                start, _, _ = region_runs[-1]
                region_runs[-1] = (start, frame + 1, label)
            else:
                region_runs.append((frame, frame + 1, label))
        runs += _absorb_short(region_runs, min_turn)
    turns: list[Turn] = []
    for start, end, label in runs:
        if turns and turns[-1].speaker == label and abs(turns[-1].end - start * FRAME_S) < 1e-9:
            turns[-1] = Turn(start=turns[-1].start, end=round(end * FRAME_S, 3), speaker=label)
        else:
            turns.append(
                Turn(start=round(start * FRAME_S, 3), end=round(end * FRAME_S, 3), speaker=label)
            )
    return SpeakerTurns(turns=tuple(turns))


def _absorb_short(runs: list[tuple[int, int, str]], min_turn: int) -> list[tuple[int, int, str]]:
    """Give each run shorter than ``min_turn`` to the longer of its neighbours, shortest first."""
    runs = list(runs)
    while len(runs) > 1:
        shortest = min(range(len(runs)), key=lambda i: runs[i][1] - runs[i][0])
        start, end, _ = runs[shortest]
        if end - start >= min_turn:
            break
        neighbours = [i for i in (shortest - 1, shortest + 1) if 0 <= i < len(runs)]
        into = max(neighbours, key=lambda i: runs[i][1] - runs[i][0])
        label = runs[into][2]
        lo, hi = sorted((shortest, into))
        merged = (runs[lo][0], runs[hi][1], label)
        runs[lo : hi + 1] = [merged]
        # The merged run may now touch a run of the same label on its other side.
        runs = _join_equal(runs)
    return runs


def _join_equal(runs: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    joined: list[tuple[int, int, str]] = []
    for run in runs:
        if joined and joined[-1][2] == run[2]:
            joined[-1] = (joined[-1][0], run[1], run[2])
        else:
            joined.append(run)
    return joined
