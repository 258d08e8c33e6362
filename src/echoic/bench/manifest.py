"""The evaluation manifest: one JSON object per line, audio paths relative to the manifest."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class Utterance:
    id: str
    audio: Path  # absolute
    text: str  # the reference as the source gives it; normalized at scoring time
    duration_s: float
    corpus: str = ""
    speaker: str = ""
    #: The manifest's short corpus name (``librispeech``, ``ljspeech``, ``spontaneous``, …).
    subset: str = ""
    text_norm: str = ""
    #: Where the audio came from (``owner/repo:path``), for attribution.
    source: str = ""


def load_manifest(
    path: Path, *, ids: Collection[str] | None = None, limit: int | None = None
) -> list[Utterance]:
    """Read ``manifest.jsonl``, keeping only ``ids`` (if given) and then the first ``limit``.

    Raises ``ValueError`` naming the line of a malformed entry and any requested id that the
    manifest lacks, so that a typo does not silently shrink the evaluation set.
    """
    base = path.parent
    utterances: list[Utterance] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                utterances.append(
                    Utterance(
                        id=str(row["id"]),
                        audio=(base / row["audio"]).resolve(),
                        text=str(row["text"]),
                        duration_s=float(row["duration_s"]),
                        corpus=str(row.get("corpus", "")),
                        speaker=str(row.get("speaker", "")),
                        subset=str(row.get("subset", "")),
                        text_norm=str(row.get("text_norm", "")),
                        source=str(row.get("source", "")),
                    )
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{lineno}: not a manifest entry ({exc!r})") from exc
    if ids is not None:
        wanted = set(ids)
        missing = wanted - {u.id for u in utterances}
        if missing:
            raise ValueError(f"{path} has no utterance with id {', '.join(sorted(missing))}")
        utterances = [u for u in utterances if u.id in wanted]
    if limit is not None:
        utterances = utterances[:limit]
    return utterances
