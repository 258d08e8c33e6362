"""End of turn from what was said as well as from silence (issue 13).

Silence alone cannot tell a speaker who finished a sentence from one who paused for breath in
the middle of it: a wait long enough not to cut the second makes the first wait too. The drafting
model already knows what was said, so the silence that ends an utterance depends on its newest
hypothesis:

- it ends a sentence (``.``, ``?``, ``!``): ``end_of_sentence_ms`` — the short wait;
- it stops mid-sentence (a trailing ``,``/``;``/``:``/dash or ellipsis, or a word that cannot end
  an English sentence: "and", "the", "of", …): ``mid_sentence_ms`` — the longest wait;
- otherwise (no words yet, or a word that may or may not end it): ``silence_ms``.

Pure: text in, a cue and a number of milliseconds out. The settings live in
:class:`~echoic.vad.state.VadConfig`, the stream applies them
(:meth:`echoic.streaming.session.StreamSession.feed`).
"""

from __future__ import annotations

import re
from enum import StrEnum

from echoic.vad.state import VadConfig


class TurnCue(StrEnum):
    SENTENCE_END = "sentence_end"
    UNKNOWN = "unknown"
    MID_SENTENCE = "mid_sentence"


_CLOSERS = "\"')]}”’»"
_SENTENCE_END = (".", "?", "!", "。", "？", "！")
_TRAILING_OFF = ("...", "…", ",", ";", ":", "-", "–", "—", "、", "，")

#: English words a sentence practically never ends on: articles, coordinating and subordinating
#: conjunctions, prepositions that take an object, possessive determiners. Words that often end
#: one as well ("in", "on", "up", "that", "so", "his", "her", "while", "each", pronouns and
#: auxiliaries) are left out: they stay UNKNOWN.
NON_FINAL_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        (
            *("a", "an", "the", "every", "very", "such", "whose"),
            *("my", "your", "our", "their", "its"),
            *("and", "or", "but", "nor", "than", "because", "if", "whether"),
            *("although", "though", "unless", "whereas"),
            *("of", "to", "for", "with", "from", "at", "by", "into", "onto", "upon"),
        )
    )
}

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def turn_cue(text: str | None, language: str | None = "en") -> TurnCue:
    """What the newest hypothesis ``text`` says about whether the speaker is done."""
    text = (text or "").rstrip().rstrip(_CLOSERS).rstrip()
    if not text:
        return TurnCue.UNKNOWN
    if text.endswith(_TRAILING_OFF):  # "..." before ".": an ellipsis trails off
        return TurnCue.MID_SENTENCE
    if text.endswith(_SENTENCE_END):
        return TurnCue.SENTENCE_END
    words = _WORD.findall(text)
    lexicon = NON_FINAL_WORDS.get(language or "en", frozenset())
    if words and words[-1].lower().replace("’", "'") in lexicon:
        return TurnCue.MID_SENTENCE
    return TurnCue.UNKNOWN


def required_silence_ms(cue: TurnCue, vad: VadConfig) -> int:
    """The trailing silence that ends an utterance whose words give ``cue``."""
    if cue is TurnCue.SENTENCE_END:
        return vad.sentence_end_ms
    if cue is TurnCue.MID_SENTENCE:
        return vad.mid_sentence_silence_ms
    return vad.silence_ms
