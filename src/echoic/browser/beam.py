"""Beam search's bookkeeping for the browser model, pure: what ``web/stt/whisper.js`` mirrors.

The rules are those of CTranslate2's Whisper beam search as faster-whisper calls it for the
server's live finals (``beam_size=5, patience=1, length_penalty=1``; engines/window.py): at each
step every alive hypothesis's log-probabilities (``log_softmax`` of the logits, then the
suppressed tokens masked, the blank and end tokens too at the first step) are added to its sum;
the ``2 · beam_size`` best continuations over all hypotheses are read best first (ties: the
lower hypothesis, then the lower token id); one ending in ``<|endoftext|>`` is finished with the
score ``sum / length`` (its length counts the end token), any other continues until
``beam_size`` are alive. The search stops when the best continuation of a step is finished,
when ``round(beam_size · patience)`` hypotheses are, or at the token limit, where every
continuation read is finished as it stands. The best score wins (the first on a tie).

The sums are float64 in both languages, so the two pick the same tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

PATIENCE = 1.0
CANDIDATES_PER_BEAM = 2  # enough continuations that finished ones leave beam_size alive


@dataclass(frozen=True, kw_only=True)
class Hypothesis:
    tokens: tuple[int, ...]
    #: the tokens' log-probabilities summed (the end token's too, once finished)
    logprob: float
    #: each token's probability under the unmasked logits, for the word timings
    probs: tuple[float, ...]


@dataclass(frozen=True, kw_only=True)
class Finished:
    hypothesis: Hypothesis
    score: float


@dataclass(frozen=True, kw_only=True)
class Step:
    alive: list[Hypothesis]
    #: for each alive hypothesis, the row of the previous step's it continues (the cache gather)
    parents: list[int]
    finished: list[Finished]
    done: bool


def log_softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    shifted = logits.astype(np.float64) - float(logits.max())
    out: npt.NDArray[np.float64] = shifted - np.log(np.exp(shifted).sum())
    return out


def top_candidates(scores: npt.NDArray[np.float64], k: int) -> list[int]:
    """The flat indices of the ``k`` highest finite scores, best first, ties to the lower index."""
    flat = scores.ravel()
    k = min(k, int(np.isfinite(flat).sum()))
    if k == 0:
        return []
    kth = np.partition(flat, flat.size - k)[flat.size - k]
    index = np.flatnonzero(flat >= kth)
    order = index[np.lexsort((index, -flat[index]))]
    return [int(i) for i in order[:k]]


def beam_step(
    alive: list[Hypothesis],
    logits: npt.NDArray[np.float32],
    *,
    step: int,
    limit: int,
    beam_size: int,
    config: dict[str, Any],
    finished: list[Finished],
) -> Step:
    """One step: ``logits`` ``[len(alive), V]`` are the alive hypotheses' next-token logits."""
    eot, n_vocab = int(config["eot"]), logits.shape[1]
    log_probs = np.stack([log_softmax(row) for row in logits])
    totals = log_probs.copy()
    totals[:, config["suppress_tokens"]] = -np.inf
    if step == 0:
        totals[:, config["suppress_blank"]] = -np.inf
    totals += np.array([h.logprob for h in alive])[:, None]
    last = step + 1 >= limit
    finished = list(finished)
    kept: list[Hypothesis] = []
    parents: list[int] = []
    top_finished = False
    candidates = top_candidates(totals, CANDIDATES_PER_BEAM * beam_size)
    for rank, flat in enumerate(candidates):
        row, token = divmod(flat, n_vocab)
        parent, total = alive[row], float(totals[row, token])
        if token == eot or last:
            grown = parent.tokens if token == eot else (*parent.tokens, token)
            probs = parent.probs if token == eot else (*parent.probs, _prob(log_probs, row, token))
            done = Hypothesis(tokens=grown, logprob=total, probs=probs)
            finished.append(Finished(hypothesis=done, score=total / (len(parent.tokens) + 1)))
            top_finished = top_finished or rank == 0
            continue
        probs = (*parent.probs, _prob(log_probs, row, token))
        kept.append(Hypothesis(tokens=(*parent.tokens, token), logprob=total, probs=probs))
        parents.append(row)
        if len(kept) == beam_size:
            break
    enough = len(finished) >= round(beam_size * PATIENCE)
    stop = last or top_finished or enough or not kept
    return Step(alive=kept, parents=parents, finished=finished, done=stop)


#: The model's side of a search: the logits ``[len(alive), vocabulary]`` for the alive
#: hypotheses, given the rows of the previous step's alive ones they continue (``None`` at the
#: first step), so that a decoder can gather its cache.
NextLogits = Callable[[list[Hypothesis], list[int] | None], npt.NDArray[np.float32]]


def search(
    next_logits: NextLogits, *, limit: int, beam_size: int, config: dict[str, Any]
) -> Hypothesis | None:
    """A whole beam search, :func:`beam_step` after step; ``None`` when ``limit`` is 0."""
    alive = [Hypothesis(tokens=(), logprob=0.0, probs=())]
    finished: list[Finished] = []
    parents: list[int] | None = None
    for step in range(limit):
        state = beam_step(
            alive,
            next_logits(alive, parents),
            step=step,
            limit=limit,
            beam_size=beam_size,
            config=config,
            finished=finished,
        )
        alive, finished, parents = state.alive, state.finished, state.parents
        if state.done:
            break
    return best(finished) if finished else None


def best(finished: list[Finished]) -> Hypothesis:
    winner = finished[0]
    for candidate in finished[1:]:
        if candidate.score > winner.score:
            winner = candidate
    return winner.hypothesis


def _prob(log_probs: npt.NDArray[np.float64], row: int, token: int) -> float:
    return float(np.exp(log_probs[row, token]))
