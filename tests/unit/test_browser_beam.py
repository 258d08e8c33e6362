"""The browser's beam search rules (echoic.browser.beam; web/stt/beam.js mirrors them), on
hand-made logits over a six-token vocabulary: 0 is <|endoftext|>, 1 is suppressed, 2 is blank."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from echoic.browser.beam import Finished, Hypothesis, beam_step, best, search, top_candidates

EOT = 0
CONFIG: dict[str, Any] = {"eot": EOT, "suppress_tokens": [1], "suppress_blank": [EOT, 2]}
START = [Hypothesis(tokens=(), logprob=0.0, probs=())]


def logits_for(probs: list[list[float]]) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.log(np.maximum(np.array(probs, dtype=np.float64), 1e-12)).astype(np.float32)


def scripted(
    table: dict[tuple[int, ...], list[float]], *, beam_size: int = 2, limit: int = 10
) -> Hypothesis:
    """A whole search over a scripted model: ``table[prefix]`` is the next-token distribution."""
    winner = search(
        lambda alive, _: logits_for([table[h.tokens] for h in alive]),
        limit=limit,
        beam_size=beam_size,
        config=CONFIG,
    )
    assert winner is not None
    return winner


def test_beam_search_finds_the_likelier_sentence_that_greedy_misses() -> None:
    # Greedy takes 3 (0.5) and then wanders; 4 (0.4) then <|endoftext|> (0.9) is likelier.
    table = {
        (): [0.0, 0.05, 0.0, 0.5, 0.4, 0.05],
        (3,): [0.3, 0.0, 0.0, 0.35, 0.0, 0.35],
        (4,): [0.9, 0.0, 0.0, 0.05, 0.0, 0.05],
        (3, 3): [1.0, 0, 0, 0, 0, 0],
        (3, 5): [1.0, 0, 0, 0, 0, 0],
        (4, 3): [1.0, 0, 0, 0, 0, 0],
        (4, 5): [1.0, 0, 0, 0, 0, 0],
    }
    assert scripted(table, beam_size=1).tokens == (3, 3)  # what greedy decoding picks
    winner = scripted(table, beam_size=2)
    assert winner.tokens == (4,)
    assert winner.probs == pytest.approx((0.4,), rel=1e-5)


def test_a_finished_hypothesis_is_scored_by_its_mean_log_probability() -> None:
    state = beam_step(
        [Hypothesis(tokens=(3, 4), logprob=-1.0, probs=(0.5, 0.7))],
        logits_for([[0.5, 0.0, 0.0, 0.25, 0.25, 0.0]]),
        step=2,
        limit=10,
        beam_size=2,
        config=CONFIG,
        finished=[],
    )
    (done,) = state.finished
    assert done.hypothesis.tokens == (3, 4)  # <|endoftext|> itself is not kept
    assert done.score == pytest.approx((-1.0 + np.log(0.5)) / 3, rel=1e-6)
    assert state.done  # the step's best continuation finished
    assert [h.tokens for h in state.alive] == [(3, 4, 3), (3, 4, 4)]


def test_suppressed_tokens_and_at_first_blank_and_end_are_never_chosen() -> None:
    state = beam_step(
        START,
        logits_for([[0.4, 0.3, 0.2, 0.05, 0.03, 0.02]]),
        step=0,
        limit=10,
        beam_size=3,
        config=CONFIG,
        finished=[],
    )
    assert [h.tokens for h in state.alive] == [(3,), (4,), (5,)]
    assert state.parents == [0, 0, 0]
    assert not state.finished
    assert not state.done


def test_the_token_limit_finishes_every_continuation_as_it_stands() -> None:
    alive = [
        Hypothesis(tokens=(3,), logprob=-0.1, probs=(0.9,)),
        Hypothesis(tokens=(4,), logprob=-0.2, probs=(0.8,)),
    ]
    uniform = [[0.1, 0.0, 0.1, 0.4, 0.2, 0.2]] * 2
    state = beam_step(
        alive, logits_for(uniform), step=1, limit=2, beam_size=2, config=CONFIG, finished=[]
    )
    assert state.done
    assert not state.alive
    assert best(state.finished).tokens == (3, 3)
    assert len(state.finished) == 4  # 2 · beam_size read, all finished


def test_enough_finished_hypotheses_end_the_search() -> None:
    earlier = [Finished(hypothesis=START[0], score=-5.0)]
    state = beam_step(
        [Hypothesis(tokens=(3,), logprob=-0.1, probs=(0.9,))],
        logits_for([[0.3, 0.0, 0.0, 0.4, 0.3, 0.0]]),
        step=1,
        limit=10,
        beam_size=2,
        config=CONFIG,
        finished=earlier,
    )
    assert len(state.finished) == 2
    assert state.done


def test_ties_go_to_the_lower_hypothesis_then_the_lower_token() -> None:
    scores = np.array([[0.0, -1.0, -1.0], [-1.0, 0.0, -np.inf]])
    assert top_candidates(scores, 4) == [0, 4, 1, 2]
    assert top_candidates(np.full((1, 3), -np.inf), 2) == []
