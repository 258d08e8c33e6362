"""Word error rate the way EVAL.md defines it: Whisper's English normalizer on both sides, jiwer's
alignment, and corpus-level totals (total errors / total reference words).

Corpus WER is not the mean of per-utterance WERs: a one-word utterance with one error would
otherwise weigh as much as a fifty-word one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import jiwer
from whisper_normalizer.english import EnglishTextNormalizer


@cache
def _normalizer() -> Any:
    # Built once: it loads its British→American spelling table from disk.
    return EnglishTextNormalizer()


def normalize(text: str) -> str:
    """Whisper's English normalization: lower case, no punctuation, standard numbers and spellings.

    Tokens with no letter or digit are dropped afterwards: the normalizer turns an ellipsis
    ("Americans...") into a lone "." token, which is punctuation, not a word.
    """
    tokens = str(_normalizer()(text)).split()
    return " ".join(t for t in tokens if any(ch.isalnum() for ch in t))


@dataclass(frozen=True, kw_only=True)
class WordCounts:
    """The outcome of aligning reference words with hypothesis words; counts add up across files."""

    hits: int = 0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0

    @property
    def words(self) -> int:
        """Reference words."""
        return self.hits + self.substitutions + self.deletions

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        """Errors per reference word; with no reference words, 1.0 if anything was inserted."""
        if self.words == 0:
            return 1.0 if self.errors else 0.0
        return self.errors / self.words

    def __add__(self, other: WordCounts) -> WordCounts:
        return WordCounts(
            hits=self.hits + other.hits,
            substitutions=self.substitutions + other.substitutions,
            deletions=self.deletions + other.deletions,
            insertions=self.insertions + other.insertions,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "wer": self.wer,
            "errors": self.errors,
            "words": self.words,
            "hits": self.hits,
            "substitutions": self.substitutions,
            "deletions": self.deletions,
            "insertions": self.insertions,
        }


def count_errors(reference: str, hypothesis: str, *, normalized: bool = False) -> WordCounts:
    """Align one hypothesis with its reference; both are normalized first unless ``normalized``."""
    if not normalized:
        reference, hypothesis = normalize(reference), normalize(hypothesis)
    ref_words, hyp_words = reference.split(), hypothesis.split()
    # jiwer refuses an empty reference; an empty side is all insertions or all deletions anyway.
    if not ref_words:
        return WordCounts(insertions=len(hyp_words))
    if not hyp_words:
        return WordCounts(deletions=len(ref_words))
    out = jiwer.process_words(" ".join(ref_words), " ".join(hyp_words))
    return WordCounts(
        hits=int(out.hits),
        substitutions=int(out.substitutions),
        deletions=int(out.deletions),
        insertions=int(out.insertions),
    )


def total(counts: Iterable[WordCounts]) -> WordCounts:
    return sum(counts, WordCounts())


def corpus_wer(references: Iterable[str], hypotheses: Iterable[str]) -> float:
    """Corpus-level WER of paired raw texts: total errors / total reference words."""
    refs, hyps = list(references), list(hypotheses)
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    return total(count_errors(r, h) for r, h in zip(refs, hyps, strict=True)).wer
