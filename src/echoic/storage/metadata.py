"""What a stored version's ``metadata`` JSON holds: the transcript's
:class:`~echoic.types.TranscriptMetadata` (provider, engine, model, timings, fallbacks) and its
``diarization`` block, so that a diarized transcript reads back diarized without a column of
its own (the segments' speakers have theirs)."""

from __future__ import annotations

import dataclasses
from typing import Any

from echoic.types import Diarization, Fallback, Transcript, TranscriptMetadata


def metadata_dict(transcript: Transcript) -> dict[str, Any]:
    meta = transcript.metadata
    body = dataclasses.asdict(meta)
    body["fallback"] = None if meta.fallback is None else [f.to_dict() for f in meta.fallback]
    if transcript.diarization is not None:  # absent: not asked for (older versions too)
        body["diarization"] = dataclasses.asdict(transcript.diarization)
    return body


def metadata_of(body: dict[str, Any]) -> TranscriptMetadata:
    known = {f.name for f in dataclasses.fields(TranscriptMetadata)}
    values = {k: v for k, v in body.items() if k in known}
    fallback = values.pop("fallback", None)
    return TranscriptMetadata(
        **values,
        fallback=None
        if fallback is None
        else tuple(
            Fallback(from_tier=f["from"], to_tier=f["to"], reason=f["reason"], detail=f["detail"])
            for f in fallback
        ),
    )


def diarization_of(body: dict[str, Any]) -> Diarization | None:
    block = body.get("diarization")
    if not isinstance(block, dict):
        return None
    return Diarization(enabled=bool(block.get("enabled")), speakers=int(block.get("speakers", 0)))
