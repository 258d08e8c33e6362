"""Flicker control for drafts: LocalAgreement of consecutive hypotheses.

A word becomes *stable* once two consecutive hypotheses agree on it and on everything before
it. The stable prefix never shrinks within an utterance: later hypotheses may only extend it.
What follows the stable prefix is the newest hypothesis's own tail.
"""

from __future__ import annotations

import re

_PUNCT = re.compile(r"[^\w']+")


def word_key(word: str) -> str:
    """Compare words without case or punctuation: "country." agrees with "country"."""
    return _PUNCT.sub("", word.lower())


class Stabilizer:
    def __init__(self) -> None:
        self._stable: list[str] = []
        self._previous: list[str] = []

    @property
    def stable_text(self) -> str:
        return " ".join(self._stable)

    def update(self, hypothesis: str) -> tuple[str, str]:
        """Take a new hypothesis; return ``(text, stable_text)`` to show.

        ``text`` always starts with ``stable_text``.
        """
        words = hypothesis.split()
        agreed = _common_prefix(self._previous, words)
        if agreed > len(self._stable) and _common_prefix(self._stable, words) == len(self._stable):
            # Extend, never rewrite: stable words keep the spelling they were first shown with.
            self._stable = [*self._stable, *words[len(self._stable) : agreed]]
        self._previous = words
        tail = words[_common_prefix(self._stable, words) :]
        if _common_prefix(self._stable, words) < len(self._stable):
            # The new hypothesis disagrees with the stable prefix: keep the prefix, and append
            # the hypothesis's words past the prefix's length.
            tail = words[len(self._stable) :]
        text = " ".join([*self._stable, *tail])
        return text, self.stable_text

    def reset(self) -> None:
        self._stable = []
        self._previous = []


def _common_prefix(a: list[str], b: list[str]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if word_key(x) != word_key(y):
            break
        n += 1
    return n
