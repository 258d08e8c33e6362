"""The manifest's held-out split: utterances to tune settings on, and utterances to report on.

The rule, deterministic and independent of the manifest's line order:

1. Utterances are grouped by corpus (``subset``) and speaker.
2. In each group, the utterances that a dev session already uses (matched by id or by text) are
   **tune**: settings have been fitted to the dev sessions, so they cannot be held out.
3. The others are ranked by the SHA-256 of ``"echoic-split-v1:" + id``; the first ⌈n/2⌉ of
   them (n: the whole group, dev-session ones included) are **report**, the rest tune.

So each speaker is in both parts, about half and half (the dev manifest's four LibriSpeech
test-other speakers are too few for a split by speaker; the held-out set, not this, holds other
speakers), and no report utterance is heard in a dev session.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from enum import StrEnum
from pathlib import Path

from echoic.bench.manifest import Utterance

SPLIT_SALT = "echoic-split-v1:"


class Part(StrEnum):
    TUNE = "tune"
    REPORT = "report"


def split_rank(utterance_id: str) -> str:
    return hashlib.sha256((SPLIT_SALT + utterance_id).encode()).hexdigest()


def split_parts(utterances: Sequence[Utterance], held_in: Iterable[str] = ()) -> dict[str, Part]:
    """Each utterance's part by id; ``held_in``: ids that must be tune (the dev sessions')."""
    forced = set(held_in)
    groups: dict[tuple[str, str], list[Utterance]] = defaultdict(list)
    for utterance in utterances:
        groups[(utterance.subset, utterance.speaker)].append(utterance)
    parts: dict[str, Part] = {}
    for members in groups.values():
        quota = (len(members) + 1) // 2
        free = sorted((u.id for u in members if u.id not in forced), key=split_rank)
        for rank, utterance_id in enumerate(free):
            parts[utterance_id] = Part.REPORT if rank < quota else Part.TUNE
        parts.update({u.id: Part.TUNE for u in members if u.id in forced})
    return parts


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def dev_session_ids(sessions_dir: Path, utterances: Sequence[Utterance]) -> frozenset[str]:
    """The manifest utterances heard in the sessions of ``sessions_dir`` (its ``*.json``
    sidecars), matched by id or by text; a missing directory holds none.

    Raises ``ValueError`` for a segment whose id is in the manifest with another text: the
    sessions were then built from another version of it.
    """
    by_id = {u.id: u for u in utterances}
    by_text: dict[str, list[str]] = defaultdict(list)
    for utterance in utterances:
        by_text[_words(utterance.text)].append(utterance.id)
    found: set[str] = set()
    for sidecar in sorted(sessions_dir.glob("*.json")) if sessions_dir.is_dir() else ():
        try:
            segments = json.loads(sidecar.read_text(encoding="utf-8"))["segments"]
            pairs = [(str(s["id"]), _words(str(s["text"]))) for s in segments]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{sidecar}: not a session sidecar ({exc!r})") from exc
        for segment_id, words in pairs:
            known = by_id.get(segment_id)
            if known is not None and _words(known.text) != words:
                raise ValueError(f"{sidecar}: {segment_id} has another text than in the manifest")
            found.update(by_text.get(words, ()))
            if known is not None:
                found.add(segment_id)
    return frozenset(found)
