"""Merging drafts (fast model) with confirmations (heavy model) for the open utterance.

A pure object: every hypothesis covers the utterance from its start. Drafts arrive often and may
run past the audio the last confirmation covered; confirmations arrive less often and win.

- ``replace``: the confirmed words replace the drafts they cover; a later draft contributes only
  its words past the confirmed word count (position-based).
- ``patch``: the draft is aligned with the confirmed words (word edit distance on case- and
  punctuation-free keys); the draft's words after the aligned part are appended. Words the heavy
  model confirmed never change until the next confirmation, and a draft that disagrees inside
  the confirmed span cannot make the display flicker.

Between confirmations the draft tail is stabilized with LocalAgreement (:class:`Stabilizer`), so
``stable_text`` never shrinks from one draft to the next; a confirmation may rewrite it (that is
the correction the client asked for, announced with ``corrects_window_ids``).
"""

from __future__ import annotations

from enum import StrEnum

from echoic.streaming.stable import Stabilizer, word_key


class MergeStrategy(StrEnum):
    REPLACE = "replace"
    PATCH = "patch"


class Merger:
    def __init__(self, strategy: MergeStrategy = MergeStrategy.PATCH) -> None:
        self.strategy = strategy
        self._confirmed: list[str] = []
        self._tail = Stabilizer()

    @property
    def confirmed_text(self) -> str:
        return " ".join(self._confirmed)

    def draft(self, hypothesis: str) -> tuple[str, str]:
        """A new draft of the whole utterance; returns ``(text, stable_text)`` to show."""
        tail_text, tail_stable = self._tail.update(" ".join(self._draft_tail(hypothesis.split())))
        return _join(self.confirmed_text, tail_text), _join(self.confirmed_text, tail_stable)

    def confirm(self, hypothesis: str) -> tuple[str, str]:
        """A confirmation of the utterance so far: it becomes the stable text."""
        self._confirmed = hypothesis.split()
        self._tail.reset()
        return self.confirmed_text, self.confirmed_text

    def _draft_tail(self, words: list[str]) -> list[str]:
        confirmed = self._confirmed
        if not confirmed:
            return words
        if self.strategy is MergeStrategy.REPLACE:
            return words[len(confirmed) :]
        return words[
            _aligned_prefix([word_key(w) for w in confirmed], [word_key(w) for w in words]) :
        ]


def _aligned_prefix(confirmed: list[str], draft: list[str]) -> int:
    """How many draft words the confirmed words stand for: the prefix of ``draft`` with the
    smallest word edit distance to ``confirmed`` (ties: the length closest to the confirmed
    one's). A word-level Levenshtein table, O(len(confirmed) × len(draft))."""
    previous = list(range(len(draft) + 1))  # distance of "" to each draft prefix
    for i, word in enumerate(confirmed, start=1):
        current = [i] + [0] * len(draft)
        for j, other in enumerate(draft, start=1):
            current[j] = min(
                previous[j] + 1,  # confirmed word missing from the draft
                current[j - 1] + 1,  # extra draft word
                previous[j - 1] + (word != other),
            )
        previous = current
    return min(range(len(draft) + 1), key=lambda j: (previous[j], abs(j - len(confirmed))))


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)
