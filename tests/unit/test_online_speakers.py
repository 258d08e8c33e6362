"""Live speaker labels: the online clusterer on synthetic utterance embeddings."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from echoic.diarize.online import OnlineSpeakers
from echoic.diarize.types import DEFAULT_THRESHOLD, MAX_SPEAKERS

DIM = 256
#: The length of an utterance's mean window embedding when its windows agree as one voice's do.
AGREEMENT = 0.85


def _voices(n: int) -> list[npt.NDArray[np.float32]]:
    """``n`` orthogonal voice directions."""
    basis = np.linalg.qr(np.random.default_rng(7).standard_normal((DIM, n)))[0]
    return [basis[:, i].astype(np.float32) for i in range(n)]


VOICES = _voices(4)


def utterance(voice: int, seed: int, *, spread: float = 0.2) -> npt.NDArray[np.float32]:
    """An utterance of ``voice``: its direction plus noise, at the length a real mean has."""
    noise = np.random.default_rng(seed).standard_normal(DIM) / np.sqrt(DIM)
    direction = VOICES[voice] + spread * noise
    out: npt.NDArray[np.float32] = (AGREEMENT * direction / np.linalg.norm(direction)).astype(
        np.float32
    )
    return out


@pytest.mark.parametrize(
    ("voices", "max_speakers", "expected"),
    [
        # One voice throughout: one label, however long the stream.
        ([0] * 6, None, ["SPEAKER_00"] * 6),
        # Labels by first appearance, stable when a voice comes back.
        ([0, 1, 0, 1, 1, 0], None, ["SPEAKER_00", "SPEAKER_01"] * 2 + ["SPEAKER_01", "SPEAKER_00"]),
        ([2, 0, 3, 2], None, ["SPEAKER_00", "SPEAKER_01", "SPEAKER_02", "SPEAKER_00"]),
        # A bound: past it, a new voice joins the nearest speaker.
        ([0, 1, 2], 2, ["SPEAKER_00", "SPEAKER_01", None]),
        ([0, 1, 2, 0], 1, ["SPEAKER_00"] * 4),
    ],
)
def test_labels_follow_the_voices(
    voices: list[int], max_speakers: int | None, expected: list[str | None]
) -> None:
    speakers = OnlineSpeakers(max_speakers=max_speakers)
    labels = [speakers.assign(utterance(v, seed)) for seed, v in enumerate(voices)]
    if None in expected:  # a third voice under a bound of two: nearest, either of them
        assert labels[:2] == expected[:2]
        assert labels[2] in ("SPEAKER_00", "SPEAKER_01")
    else:
        assert labels == expected
    assert speakers.speakers == len(set(labels))


def test_a_voice_that_drifts_slowly_stays_one_speaker() -> None:
    # Each utterance is nearer the running centroid than the threshold, though the last is far
    # from the first: the centroid follows the voice.
    start, end = VOICES[0], VOICES[1]
    steps = []
    for step in range(6):
        mix = start * (1 - step / 10) + end * (step / 10)
        steps.append((AGREEMENT * mix / np.linalg.norm(mix)).astype(np.float32))
    alone = OnlineSpeakers()
    alone.assign(steps[0])
    assert alone.distances(steps[-1])[0] > DEFAULT_THRESHOLD
    speakers = OnlineSpeakers()
    assert [speakers.assign(e) for e in steps] == ["SPEAKER_00"] * 6


def test_the_threshold_decides_between_joining_and_a_new_speaker() -> None:
    first = utterance(0, 0, spread=0.0)
    # A vector whose average-linkage distance to the speaker is just under / just over it.
    other = VOICES[1]
    for distance, label in (
        (DEFAULT_THRESHOLD - 0.01, "SPEAKER_00"),
        (DEFAULT_THRESHOLD + 0.01, "SPEAKER_01"),
    ):
        probe = OnlineSpeakers()
        probe.assign(first)
        along = (1 - distance) / AGREEMENT  # component along voice 0, for 1 - first·v = distance
        vector = (along * VOICES[0] + 0.3 * other).astype(np.float32)
        assert probe.distances(vector)[0] == pytest.approx(distance, abs=1e-5)
        assert probe.assign(vector) == label


def test_an_utterance_too_short_to_embed_takes_the_previous_label() -> None:
    speakers = OnlineSpeakers()
    assert speakers.assign(None) is None  # nothing heard yet
    assert speakers.assign(utterance(0, 1)) == "SPEAKER_00"
    assert speakers.assign(utterance(1, 2)) == "SPEAKER_01"
    assert speakers.assign(None) == "SPEAKER_01"
    assert speakers.speakers == 2
    assert speakers.assign(utterance(0, 3)) == "SPEAKER_00"


def test_without_a_bound_the_batch_limit_holds() -> None:
    speakers = OnlineSpeakers(threshold=0.0)  # every utterance a new voice, until the limit
    labels = [speakers.assign(utterance(0, seed)) for seed in range(MAX_SPEAKERS + 3)]
    assert labels[MAX_SPEAKERS - 1] == f"SPEAKER_{MAX_SPEAKERS - 1}"
    assert speakers.speakers == MAX_SPEAKERS
    assert set(labels[MAX_SPEAKERS:]) <= set(labels[:MAX_SPEAKERS])


@pytest.mark.parametrize("bad", [0, 33])
def test_max_speakers_out_of_range_is_refused(bad: int) -> None:
    with pytest.raises(ValueError, match="max_speakers"):
        OnlineSpeakers(max_speakers=bad)
