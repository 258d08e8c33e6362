"""A store on each backend (SQLite, PostgreSQL), and small transcripts to put in it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from echoic.storage.db import Database
from echoic.storage.records import LOCAL_TENANT
from echoic.storage.store import Retention, Store
from echoic.types import Segment, Transcript, TranscriptMetadata, Word, build_transcript

NOW = 1_800_000_000.0  # a fixed "now": the queue takes time as an argument
LEASE_S = 30.0


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    db = Database.open(database_url)
    store = Store(db, tmp_path / "media", retention=Retention(keep_s=None))
    store.ensure_local_tenant(NOW)
    yield store
    store.close()


def transcript(*texts: str, words: bool = True) -> Transcript:
    segments = []
    for i, text in enumerate(texts):
        start = 2.0 * i
        segments.append(
            Segment(
                id=i,
                start=start,
                end=start + 1.5,
                text=text,
                avg_logprob=-0.2,
                words=tuple(
                    Word(word=w, start=start + 0.1 * j, end=start + 0.1 * j + 0.1, probability=0.9)
                    for j, w in enumerate(text.split())
                )
                if words
                else None,
            )
        )
    return build_transcript(
        segments=segments,
        duration=2.0 * len(texts),
        language="en",
        metadata=TranscriptMetadata(model="tiny.en", processing_ms=12),
    )


TENANT = LOCAL_TENANT
