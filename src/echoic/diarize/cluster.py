"""Speaker embeddings → speaker labels: average-linkage agglomerative clustering on cosine
distance (scikit-learn), the number of speakers found by a distance threshold unless the request
fixes or bounds it.

Average linkage merges two groups while the mean distance between their members stays under the
threshold, so one threshold means the same thing for two windows and for two long turns. The
threshold is fitted on tune data (``echoic bench diarization``; README) as the point where pairs
of windows of one voice and pairs of different voices are told apart equally often. Labels are
numbered by first appearance: ``SPEAKER_00`` spoke first.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from echoic.diarize.types import DEFAULT_THRESHOLD, SpeakerCount, speaker_name

__all__ = ["DEFAULT_THRESHOLD", "cluster_embeddings"]


def cluster_embeddings(
    embeddings: npt.NDArray[np.float32],
    count: SpeakerCount,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    min_size: int = 3,
) -> list[str]:
    """One speaker label per row of ``embeddings`` (unit vectors, in time order)."""
    n = len(embeddings)
    if n == 0:
        return []
    lo, hi = count.bounds
    if n == 1:
        return [speaker_name(0)]
    if count.num_speakers is not None:
        ids = _fixed(embeddings, min(count.num_speakers, n), min_size)
    else:
        ids = _agglomerative(n_clusters=None, distance_threshold=threshold).fit_predict(embeddings)
        ids = _absorb_small(embeddings, ids, min_size)
        found = len(set(ids.tolist()))
        if found < lo or found > hi:
            ids = _fixed(embeddings, min(max(found, lo), hi, n), min_size)
    return _by_first_appearance(ids.tolist())


def _absorb_small(
    embeddings: npt.NDArray[np.float32], ids: npt.NDArray[np.int_], min_size: int
) -> npt.NDArray[np.int_]:
    """Give the members of clusters smaller than ``min_size`` windows to the nearest (by cosine
    to its centroid) larger cluster: a few odd windows (a cough, a laugh, crosstalk) are not a
    speaker. With no cluster that large, the largest ones stand."""
    sizes = np.bincount(ids)
    big = [c for c in range(len(sizes)) if sizes[c] >= min_size]
    if not big or len(big) == np.count_nonzero(sizes):
        return ids
    centroids = np.stack([embeddings[ids == c].mean(axis=0) for c in big])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    nearest = np.asarray(big)[np.argmax(embeddings @ centroids.T, axis=1)]
    out: npt.NDArray[np.int_] = np.where(np.isin(ids, big), ids, nearest)
    return out


def _agglomerative(**params: object) -> Any:
    # scikit-learn takes over a second to import: only a process that diarizes pays for it.
    from sklearn.cluster import AgglomerativeClustering

    return AgglomerativeClustering(metric="cosine", linkage="average", **params)


def _fixed(embeddings: npt.NDArray[np.float32], k: int, min_size: int) -> npt.NDArray[np.int_]:
    """``k`` clusters of at least ``min_size`` windows where the data allow: cut the tree into
    more clusters until ``k`` of them are that large (an odd window split off on its own does
    not count as a speaker), then give the small ones to their nearest large cluster. Fewer than
    ``k`` come back when there are not ``k`` groups of windows to be found."""
    n = len(embeddings)
    if k <= 1:
        return np.zeros(n, dtype=np.int_)
    best: tuple[int, npt.NDArray[np.int_]] | None = None
    for m in range(k, min(n, k + 20) + 1):
        ids: npt.NDArray[np.int_] = _agglomerative(n_clusters=m).fit_predict(embeddings)
        large = int(np.count_nonzero(np.bincount(ids) >= min_size))
        if best is None or large > best[0]:
            best = (large, ids)
        if large >= k:
            break
    assert best is not None
    large, ids = best
    if large == 0:  # too few windows for any group of min_size: k plain clusters
        return ids if len(set(ids.tolist())) <= k else _fixed(embeddings, k, 1)
    return _absorb_small(embeddings, ids, min_size)


def _by_first_appearance(ids: list[int]) -> list[str]:
    order: dict[int, int] = {}
    for i in ids:
        order.setdefault(i, len(order))
    return [speaker_name(order[i]) for i in ids]
