"""The store: one database with its repositories, and the operations that span several.

    store = open_store(settings)          # SQLite under ECHOIC_DATA_DIR, or ECHOIC_DATABASE_URL
    job = store.submit_upload(tenant_id, file, options, actor="ek_…", now=time.time())
    store.leases.claim("worker-1", now=time.time(), lease_s=30)

Opening migrates the schema (Alembic), creates the local tenant (the one caller of a server
without API keys) and moves keys from an older echoic's ``keys.sqlite3`` into the database.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from echoic.errors import ConflictError, MediaGoneError
from echoic.settings import Settings
from echoic.storage import audit, transcripts
from echoic.storage.audit import Event
from echoic.storage.db import Database, default_url
from echoic.storage.jobs import JobQueue
from echoic.storage.keys import LEGACY_FILE, SqlKeyStore
from echoic.storage.leases import Leases
from echoic.storage.media import MediaRepo, get_media
from echoic.storage.records import LOCAL_TENANT, Job, JobStatus, Media, Submission
from echoic.storage.schema import jobs, tenants
from echoic.storage.schema import media as media_table
from echoic.storage.schema import transcripts as transcripts_table
from echoic.storage.transcripts import TranscriptRepo
from echoic.types import Transcript

log = logging.getLogger(__name__)

DAY_S = 86_400.0


@dataclass(frozen=True, kw_only=True)
class Retention:
    """How long uploaded audio is kept after its transcription: ``None`` forever, ``0``
    deleted once transcribed, else that many seconds."""

    keep_s: float | None

    @classmethod
    def parse(cls, value: str) -> Retention:
        """``forever``, or days as a number (``0``, ``30``, ``0.5``)."""
        if value.strip().lower() == "forever":
            return cls(keep_s=None)
        days = float(value)
        if not math.isfinite(days) or days < 0:
            raise ValueError(f"retention must be 'forever' or days ≥ 0, not {value!r}")
        return cls(keep_s=days * DAY_S)

    def delete_after(self, now: float) -> float | None:
        return None if self.keep_s is None else now + self.keep_s


class Store:
    def __init__(
        self,
        db: Database,
        media_root: Path,
        *,
        retention: Retention | None = None,
        media_in_database: bool | None = None,
    ) -> None:
        self.db = db
        self.retention = retention or Retention(keep_s=None)
        in_db = db.is_postgres if media_in_database is None else media_in_database
        self.keys = SqlKeyStore(db)
        self.media = MediaRepo(db, media_root, in_database=in_db)
        self.jobs = JobQueue(db)
        self.leases = Leases(db)
        self.transcripts = TranscriptRepo(db)

    def ensure_local_tenant(self, now: float) -> None:
        with self.db.write() as conn:
            found = conn.execute(sa.select(tenants.c.id).where(tenants.c.id == LOCAL_TENANT))
            if found.first() is None:
                conn.execute(tenants.insert().values(id=LOCAL_TENANT, name="local", created_at=now))

    # -- jobs ------------------------------------------------------------------------------------

    def submit_upload(
        self,
        submission: Submission,
        source: BinaryIO,
        *,
        filename: str | None = None,
        content_type: str | None = None,
        duration_s: float | None = None,
    ) -> Job:
        """Keep the upload and queue its job; both are persisted when this returns."""
        staged = self.media.stage(submission.tenant_id, source)
        try:
            with self.db.write() as conn:
                media_id = self.media.insert(
                    conn,
                    tenant_id=submission.tenant_id,
                    source="upload",
                    now=submission.now,
                    staged=staged,
                    filename=filename,
                    content_type=content_type,
                    duration_s=duration_s,
                )
                job_id = self.jobs.insert(conn, submission, media_id=media_id)
        except BaseException:
            staged.discard()
            raise
        return self.jobs.get(submission.tenant_id, job_id)

    def submit_url(self, submission: Submission, url: str) -> Job:
        """Queue a job for media a worker will fetch from ``url``."""
        with self.db.write() as conn:
            media_id = self.media.insert(
                conn, tenant_id=submission.tenant_id, source="url", now=submission.now, url=url
            )
            job_id = self.jobs.insert(conn, submission, media_id=media_id)
        return self.jobs.get(submission.tenant_id, job_id)

    def submit_rerun(self, submission: Submission, transcript_id: str) -> Job:
        """Queue a job that transcribes a transcript's audio again, as its next version."""
        tenant_id = submission.tenant_id
        info = self.transcripts.info(tenant_id, transcript_id)
        if info.media_id is None:
            raise ConflictError(f"Transcript {transcript_id!r} has no audio to transcribe again.")
        with self.db.write() as conn:
            item = get_media(conn, tenant_id, info.media_id)
            if item.deleted:
                raise MediaGoneError(
                    f"The audio of transcript {transcript_id!r} was deleted; it cannot be "
                    "transcribed again."
                )
            job_id = self.jobs.insert(
                conn, submission, media_id=item.id, transcript_id=transcript_id
            )
        return self.jobs.get(tenant_id, job_id)

    def attach_fetched(
        self, media_id: str, path: Path, *, title: str | None, duration_s: float | None
    ) -> Media:
        """Keep the file a worker fetched for a URL job's media, and return the media."""
        item = self.media.get(None, media_id)
        with path.open("rb") as source:
            staged = self.media.stage_as(media_id, item.tenant_id, source)
        try:
            with self.db.write() as conn:
                self.media.attach(
                    conn,
                    media_id,
                    staged,
                    content_type=None,
                    duration_s=duration_s,
                    filename=title,
                )
        except BaseException:
            staged.discard()
            raise
        return self.media.get(None, media_id)

    def after_completion(self, job: Job, now: float) -> None:
        """Start the retention clock of a completed job's audio (and delete it at once when
        audio is not kept)."""
        until = self.retention.delete_after(now)
        if until is None:
            return
        with self.db.write() as conn:
            conn.execute(
                sa.update(media_table)
                .where(
                    media_table.c.id == job.media_id,
                    media_table.c.deleted_at.is_(None),
                )
                .values(delete_after=until)
            )
        if until <= now:
            self.media.sweep(now)

    # -- transcripts from elsewhere ------------------------------------------------------------

    def save_transcript(
        self,
        tenant_id: str,
        transcript: Transcript,
        *,
        options: dict[str, Any],
        actor: str,
        now: float,
        source: BinaryIO | None = None,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> str:
        """Store a transcript made outside the queue (``POST /v1/audio/transcriptions`` with
        ``store=true``), with its audio under the retention setting; returns its id."""
        staged = self.media.stage(tenant_id, source) if source is not None else None
        try:
            with self.db.write() as conn:
                media_id = self.media.insert(
                    conn,
                    tenant_id=tenant_id,
                    source="upload",
                    now=now,
                    staged=staged,
                    filename=filename,
                    content_type=content_type,
                    duration_s=transcript.duration,
                )
                transcript_id = transcripts.create(
                    conn, tenant_id=tenant_id, media_id=media_id, job_id=None, now=now
                )
                version = transcripts.add_version(
                    conn,
                    transcript_id=transcript_id,
                    transcript=transcript,
                    reason="transcription",
                    actor=actor,
                    options=options,
                    now=now,
                )
                audit.record(
                    conn,
                    tenant_id=tenant_id,
                    event=Event.COMPLETED,
                    actor=actor,
                    at=now,
                    transcript_id=transcript_id,
                    media_id=media_id,
                    detail={"version": version, "provider": transcript.metadata.provider},
                )
                until = self.retention.delete_after(now)
                if until is not None:
                    conn.execute(
                        sa.update(media_table)
                        .where(media_table.c.id == media_id)
                        .values(delete_after=until)
                    )
        except BaseException:
            if staged is not None:
                staged.discard()
            raise
        if self.retention.keep_s == 0:
            self.media.sweep(now)
        return transcript_id

    # -- deleting ---------------------------------------------------------------------------------

    def delete_transcript(
        self, tenant_id: str, transcript_id: str, *, actor: str, now: float
    ) -> None:
        """The transcript, its versions and chunks, and its audio — unless a queued or running
        job still needs that audio (it is then left to the retention setting)."""
        info = self.transcripts.info(tenant_id, transcript_id)
        self.transcripts.delete(tenant_id, transcript_id, actor=actor, now=now)
        if info.media_id is not None:
            with self.db.write() as conn:
                if _job_needing(conn, info.media_id) is None:
                    item = get_media(conn, tenant_id, info.media_id)
                    self.media.delete_audio(conn, item, actor=actor, now=now, reason="deleted")

    def delete_media(self, tenant_id: str, media_id: str, *, actor: str, now: float) -> None:
        """The audio, and every transcript made from it; :class:`ConflictError` while a job
        still needs it (cancel the job first)."""
        with self.db.read() as conn:
            item = get_media(conn, tenant_id, media_id)
            busy = _job_needing(conn, item.id)
            rows = conn.execute(
                sa.select(transcripts_table.c.id).where(transcripts_table.c.media_id == item.id)
            ).all()
        if busy is not None:
            raise ConflictError(f"Job {busy} still needs this audio; cancel it first.")
        for (transcript_id,) in rows:
            self.transcripts.delete(tenant_id, transcript_id, actor=actor, now=now)
        with self.db.write() as conn:
            item = get_media(conn, tenant_id, media_id)
            self.media.delete_audio(conn, item, actor=actor, now=now, reason="deleted")

    def close(self) -> None:
        self.db.close()


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    """The store ``settings`` describe (``database_url``, else SQLite under ``data_dir``)."""
    url = settings.database_url or default_url(settings.data_dir)
    db = Database.open(url, migrate=migrate)
    store = Store(
        db,
        settings.data_dir / "media",
        retention=Retention.parse(settings.retain_audio),
        media_in_database=_media_in_database(settings, db),
    )
    store.ensure_local_tenant(time.time())
    moved = store.keys.import_legacy(settings.data_dir / LEGACY_FILE)
    if moved:
        log.info("API keys moved into the database", extra={"keys": moved})
    return store


def _media_in_database(settings: Settings, db: Database) -> bool:
    choice = settings.media_store
    return db.is_postgres if choice == "auto" else choice == "database"


def _job_needing(conn: Connection, media_id: str) -> str | None:
    """A queued or running job that still needs this media's audio."""
    found = conn.execute(
        sa.select(jobs.c.id).where(
            jobs.c.media_id == media_id,
            jobs.c.status.in_((JobStatus.QUEUED.value, JobStatus.RUNNING.value)),
        )
    ).first()
    return None if found is None else str(found[0])
