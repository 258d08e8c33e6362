"""Versioned transcripts: every transcription, re-run and edit is a new version, kept whole
(its text, segments with words, chunks, and what made it: provider, engine, model, options,
timings). The transcript's ``current_version`` is the latest.

The functions taking a ``conn`` run inside a caller's transaction (a job's completion writes
its transcript, the job's status and the audit event at once); :class:`TranscriptRepo` is the
tenant-scoped API the server uses.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from echoic.chunks import Chunk, chunk_segments
from echoic.errors import InvalidParameterError, NotFoundError
from echoic.storage import audit
from echoic.storage.audit import Event
from echoic.storage.db import Database
from echoic.storage.metadata import diarization_of, metadata_dict, metadata_of
from echoic.storage.records import TranscriptInfo, VersionInfo, new_id
from echoic.storage.schema import chunks, segments, transcript_versions, transcripts
from echoic.types import Diarization, Segment, Task, Transcript, Word, build_transcript


def create(
    conn: Connection,
    *,
    tenant_id: str,
    media_id: str | None,
    job_id: str | None,
    now: float,
) -> str:
    transcript_id = new_id("tr")
    conn.execute(
        transcripts.insert().values(
            id=transcript_id,
            tenant_id=tenant_id,
            media_id=media_id,
            job_id=job_id,
            current_version=0,
            created_at=now,
            updated_at=now,
        )
    )
    return transcript_id


def add_version(
    conn: Connection,
    *,
    transcript_id: str,
    transcript: Transcript,
    reason: str,
    actor: str,
    options: dict[str, Any],
    now: float,
) -> int:
    """Write ``transcript`` as the next version (with its segments and chunks) and make it
    current; returns the version number."""
    row = (
        conn.execute(
            sa.select(transcripts.c.current_version)
            .where(transcripts.c.id == transcript_id)
            .with_for_update()
        )
        .mappings()
        .one_or_none()
    )
    if row is None:  # deleted while a re-run of it was queued or running
        raise NotFoundError(f"Transcript {transcript_id!r} was deleted.")
    version = int(row["current_version"]) + 1
    meta = transcript.metadata
    conn.execute(
        transcript_versions.insert().values(
            transcript_id=transcript_id,
            version=version,
            reason=reason,
            actor=actor,
            text=transcript.text,
            language=transcript.language,
            language_probability=transcript.language_probability,
            duration_s=transcript.duration,
            task=transcript.task.value,
            provider=meta.provider,
            engine=meta.engine,
            model=meta.model,
            options=options,
            metadata=metadata_dict(transcript),
            created_at=now,
        )
    )
    if transcript.segments:
        conn.execute(
            segments.insert(),
            [
                {
                    "transcript_id": transcript_id,
                    "version": version,
                    "idx": s.id,
                    "start_s": s.start,
                    "end_s": s.end,
                    "text": s.text,
                    "speaker": s.speaker,
                    "confidence": s.confidence,
                    "avg_logprob": s.avg_logprob,
                    "no_speech_prob": s.no_speech_prob,
                    "compression_ratio": s.compression_ratio,
                    "temperature": s.temperature,
                    "words": None
                    if s.words is None
                    else [[w.word, w.start, w.end, w.probability] for w in s.words],
                }
                for s in transcript.segments
            ],
        )
    spans = chunk_segments(transcript.segments)
    if spans:
        conn.execute(
            chunks.insert(),
            [
                {
                    "transcript_id": transcript_id,
                    "version": version,
                    "idx": c.index,
                    "start_s": c.start,
                    "end_s": c.end,
                    "text": c.text,
                    "segment_ids": list(c.segment_ids),
                }
                for c in spans
            ],
        )
    conn.execute(
        transcripts.update()
        .where(transcripts.c.id == transcript_id)
        .values(current_version=version, updated_at=now)
    )
    return version


class TranscriptRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def info(self, tenant_id: str, transcript_id: str) -> TranscriptInfo:
        with self.db.read() as conn:
            return _info(conn, tenant_id, transcript_id)

    def recent(self, tenant_id: str, *, limit: int = 20) -> list[TranscriptInfo]:
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(transcripts)
                .where(transcripts.c.tenant_id == tenant_id)
                .order_by(transcripts.c.created_at.desc(), transcripts.c.id.desc())
                .limit(limit)
            ).mappings()
            return [_info_of(row) for row in rows]

    def get(
        self, tenant_id: str, transcript_id: str, version: int | None = None
    ) -> tuple[TranscriptInfo, VersionInfo, Transcript]:
        """The transcript at ``version`` (``None``: the current one); a missing transcript, a
        missing version and another tenant's id are all :class:`NotFoundError`."""
        with self.db.read() as conn:
            info = _info(conn, tenant_id, transcript_id)
            number = info.current_version if version is None else version
            row = (
                conn.execute(
                    sa.select(transcript_versions).where(
                        transcript_versions.c.transcript_id == transcript_id,
                        transcript_versions.c.version == number,
                    )
                )
                .mappings()
                .one_or_none()
            )
            if row is None:
                raise NotFoundError(f"Transcript {transcript_id!r} has no version {number}.")
            segment_rows = conn.execute(
                sa.select(segments)
                .where(segments.c.transcript_id == transcript_id, segments.c.version == number)
                .order_by(segments.c.idx)
            ).mappings()
            segs = [_segment_of(s) for s in segment_rows]
        version_info = _version_of(row)
        transcript = Transcript(
            text=version_info.text,
            language=version_info.language,
            language_probability=row["language_probability"],
            duration=version_info.duration_s,
            segments=tuple(segs),
            task=Task(row["task"]),
            metadata=metadata_of(version_info.metadata),
            diarization=diarization_of(version_info.metadata),
        )
        return info, version_info, transcript

    def versions(self, tenant_id: str, transcript_id: str) -> list[VersionInfo]:
        with self.db.read() as conn:
            _info(conn, tenant_id, transcript_id)
            rows = conn.execute(
                sa.select(transcript_versions)
                .where(transcript_versions.c.transcript_id == transcript_id)
                .order_by(transcript_versions.c.version)
            ).mappings()
            return [_version_of(r) for r in rows]

    def chunks(
        self, tenant_id: str, transcript_id: str, version: int | None = None
    ) -> tuple[int, list[Chunk]]:
        """The chunks of ``version`` (``None``: the current one), with the version number."""
        with self.db.read() as conn:
            info = _info(conn, tenant_id, transcript_id)
            number = info.current_version if version is None else version
            rows = conn.execute(
                sa.select(chunks)
                .where(chunks.c.transcript_id == transcript_id, chunks.c.version == number)
                .order_by(chunks.c.idx)
            ).mappings()
            return number, [
                Chunk(
                    index=r["idx"],
                    start=r["start_s"],
                    end=r["end_s"],
                    text=r["text"],
                    segment_ids=tuple(r["segment_ids"]),
                )
                for r in rows
            ]

    def edit(
        self,
        tenant_id: str,
        transcript_id: str,
        texts: dict[int, str],
        *,
        speakers: dict[int, str | None] | None = None,
        actor: str,
        now: float,
    ) -> int:
        """A new version with some segments' text (and speaker) replaced: ``texts`` maps
        segment id → new text. Word timings of an edited segment are dropped (they no longer
        match its words). Returns the new version number."""
        _, current, transcript = self.get(tenant_id, transcript_id)
        unknown = sorted((set(texts) | set(speakers or {})) - {s.id for s in transcript.segments})
        if unknown:
            raise InvalidParameterError(
                f"Transcript {transcript_id!r} has no segment {unknown[0]}.", param="segments"
            )
        edited = []
        for s in transcript.segments:
            changes: dict[str, Any] = {}
            if s.id in texts and texts[s.id] != s.text:
                changes.update(text=texts[s.id], words=None)
            if speakers and s.id in speakers:
                changes["speaker"] = speakers[s.id]
            edited.append(dataclasses.replace(s, **changes) if changes else s)
        new = build_transcript(
            segments=edited,
            duration=transcript.duration,
            language=transcript.language,
            language_probability=transcript.language_probability,
            task=transcript.task,
            metadata=transcript.metadata,
        )
        if transcript.diarization is not None:  # still diarized; speakers may have been renamed
            named = {s.speaker for s in new.segments if s.speaker is not None}
            new = dataclasses.replace(new, diarization=Diarization(speakers=len(named)))
        with self.db.write() as conn:
            version = add_version(
                conn,
                transcript_id=transcript_id,
                transcript=new,
                reason="edit",
                actor=actor,
                options=current.options,
                now=now,
            )
            audit.record(
                conn,
                tenant_id=tenant_id,
                event=Event.EDITED,
                actor=actor,
                at=now,
                transcript_id=transcript_id,
                detail={"version": version, "segments": sorted(texts)},
            )
        return version

    def delete(self, tenant_id: str, transcript_id: str, *, actor: str, now: float) -> None:
        """Remove the transcript with all its versions, segments and chunks; the audit event
        stays."""
        with self.db.write() as conn:
            info = _info(conn, tenant_id, transcript_id)
            for table in (chunks, segments, transcript_versions):
                conn.execute(table.delete().where(table.c.transcript_id == transcript_id))
            conn.execute(transcripts.delete().where(transcripts.c.id == transcript_id))
            audit.record(
                conn,
                tenant_id=tenant_id,
                event=Event.DELETED,
                actor=actor,
                at=now,
                transcript_id=transcript_id,
                media_id=info.media_id,
                detail={"versions": info.current_version},
            )


def _info(conn: Connection, tenant_id: str, transcript_id: str) -> TranscriptInfo:
    row = (
        conn.execute(
            sa.select(transcripts).where(
                transcripts.c.id == transcript_id, transcripts.c.tenant_id == tenant_id
            )
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFoundError(f"No transcript {transcript_id!r}.")
    return _info_of(row)


def _info_of(row: sa.RowMapping) -> TranscriptInfo:
    return TranscriptInfo(
        id=row["id"],
        tenant_id=row["tenant_id"],
        media_id=row["media_id"],
        job_id=row["job_id"],
        current_version=row["current_version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _version_of(row: sa.RowMapping) -> VersionInfo:
    return VersionInfo(
        transcript_id=row["transcript_id"],
        version=row["version"],
        reason=row["reason"],
        actor=row["actor"],
        text=row["text"],
        language=row["language"],
        duration_s=row["duration_s"],
        provider=row["provider"],
        engine=row["engine"],
        model=row["model"],
        options=dict(row["options"] or {}),
        metadata=dict(row["metadata"] or {}),
        created_at=row["created_at"],
    )


def _segment_of(row: sa.RowMapping) -> Segment:
    words = row["words"]
    return Segment(
        id=row["idx"],
        start=row["start_s"],
        end=row["end_s"],
        text=row["text"],
        speaker=row["speaker"],
        confidence=row["confidence"],
        avg_logprob=row["avg_logprob"],
        no_speech_prob=row["no_speech_prob"],
        compression_ratio=row["compression_ratio"],
        temperature=row["temperature"],
        words=None
        if words is None
        else tuple(Word(word=w[0], start=w[1], end=w[2], probability=w[3]) for w in words),
    )
