"""Word timings from the decoder's cross-attention: Whisper's alignment-head method.

The decoder graph can return the cross-attention weights of the model's alignment heads (the
heads whose attention follows the speech, listed in CTranslate2's ``config.json``). For the rows
of ``<|notimestamps|>`` and each text token, restricted to the speech frames, the weights are
standardised across tokens, median-filtered over time (width 7), averaged over heads, and a
dynamic-time-warping path through their negation maps each token to the encoder position
(20 ms) where it starts; words are the tokens between spaces, and punctuation joins its
neighbour, as in faster-whisper's ``find_alignment`` and ``merge_punctuations``. faster-whisper's
later clamping of overlong words is left out. ``whisper.js`` mirrors this module.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

POSITIONS_PER_S = 50  # encoder positions: two 10 ms log-Mel frames each
MEDIAN_WIDTH = 7
PREPEND_PUNCTUATIONS = "\"'“¿([{-"
APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"

Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True, kw_only=True)
class TimedWord:
    word: str
    start: float
    end: float
    probability: float


def median_filter(x: Matrix, width: int = MEDIAN_WIDTH) -> Matrix:
    """Median over a sliding window of the last axis, reflecting at the edges."""
    pad = width // 2
    if x.shape[-1] <= pad:
        return x
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad, pad)], mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=-1)
    return np.sort(windows, axis=-1)[..., pad]


def dtw(cost: Matrix) -> tuple[list[int], list[int]]:
    """The cheapest monotonic path through ``cost`` ``[tokens, positions]`` from its top-left
    to its bottom-right corner; ties prefer the diagonal, then the token step."""
    n, m = cost.shape
    total = np.full((n + 1, m + 1), np.inf)
    trace = np.full((n + 1, m + 1), -1, dtype=np.int8)
    total[0, 0] = 0.0
    for j in range(1, m + 1):
        for i in range(1, n + 1):
            c0, c1, c2 = total[i - 1, j - 1], total[i - 1, j], total[i, j - 1]
            if c0 < c1 and c0 < c2:
                best, step = c0, 0
            elif c1 < c0 and c1 < c2:
                best, step = c1, 1
            else:
                best, step = c2, 2
            total[i, j] = cost[i - 1, j - 1] + best
            trace[i, j] = step
    trace[0, :] = 2
    trace[:, 0] = 1
    i, j = n, m
    path: list[tuple[int, int]] = []
    while i > 0 or j > 0:
        path.append((i - 1, j - 1))
        step = int(trace[i, j])
        if step == 0:
            i, j = i - 1, j - 1
        elif step == 1:
            i -= 1
        else:
            j -= 1
    path.reverse()
    return [p[0] for p in path], [p[1] for p in path]


def split_words(table: Sequence[str], tokens: Sequence[int], eot: int) -> list[list[int]]:
    """Tokens grouped into words: a word starts at a token run beginning with a space, at
    punctuation, or at a special token; runs are cut where their bytes are whole UTF-8."""
    pieces: list[tuple[str, list[int]]] = []
    pending: list[int] = []
    for token in tokens:
        pending.append(token)
        raw = bytes(ord(c) for t in pending for c in table[t])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        pieces.append((text, pending))
        pending = []
    words: list[tuple[str, list[int]]] = []
    for text, group in pieces:
        starts = group[0] >= eot or text.startswith(" ") or text.strip() in string.punctuation
        if starts or not words:
            words.append((text, list(group)))
        else:
            words[-1] = (words[-1][0] + text, words[-1][1] + group)
    return [group for _, group in words]


def align_words(
    weights: npt.NDArray[np.float32],
    text_tokens: Sequence[int],
    token_probs: Sequence[float],
    speech_frames: int,
    table: Sequence[str],
    eot: int,
) -> tuple[TimedWord, ...]:
    """``weights``: ``[heads, rows, positions]`` for the whole sequence ``[*sot, notimestamps,
    *text_tokens, eot]``; ``token_probs``: each text token's probability when it was picked."""
    if not text_tokens:
        return ()
    n_prompt = weights.shape[1] - len(text_tokens) - 2  # the start sequence
    kept = weights[:, :, : max(1, speech_frames // 2)].astype(np.float64)
    kept = kept / kept.sum(axis=-1, keepdims=True)  # a softmax over the kept positions only
    mean, std = kept.mean(axis=-2, keepdims=True), kept.std(axis=-2, keepdims=True)
    matrix = median_filter((kept - mean) / std).mean(axis=0)[n_prompt:-1]
    text_indices, time_indices = dtw(-matrix)
    jumps = np.diff(np.asarray(text_indices), prepend=-1).astype(bool)
    jump_times = np.asarray(time_indices)[jumps] / POSITIONS_PER_S
    groups = split_words(table, [*text_tokens, eot], eot)
    bounds = np.concatenate([[0], np.cumsum([len(g) for g in groups[:-1]])]).astype(int)
    words = [
        TimedWord(
            word=bytes(ord(c) for t in group for c in table[t]).decode("utf-8"),
            start=round(float(jump_times[bounds[k]]), 3),
            end=round(float(jump_times[bounds[k + 1]]), 3),
            probability=round(float(np.mean(token_probs[bounds[k] : bounds[k + 1]])), 4),
        )
        for k, group in enumerate(groups[:-1])
    ]
    texts = merge_punctuations([w.word for w in words])
    return tuple(
        replace(w, word=text.strip()) for w, text in zip(words, texts, strict=True) if text.strip()
    )


def merge_punctuations(words: list[str]) -> list[str]:
    """faster-whisper's rule: opening punctuation joins the next word, closing punctuation the
    previous one; the emptied entries are dropped by the caller and the others keep their own
    times."""
    words = list(words)
    i, j = len(words) - 2, len(words) - 1
    while i >= 0:
        if words[i].startswith(" ") and words[i].strip() in PREPEND_PUNCTUATIONS:
            words[j] = words[i] + words[j]
            words[i] = ""
        else:
            j = i
        i -= 1
    i, j = 0, 1
    while j < len(words):
        if not words[i].endswith(" ") and words[j] in APPEND_PUNCTUATIONS:
            words[i] = words[i] + words[j]
            words[j] = ""
        else:
            i = j
        j += 1
    return words
