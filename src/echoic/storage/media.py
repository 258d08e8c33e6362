"""Media: the audio behind jobs and transcripts, and where its bytes are kept.

Two places for the bytes, chosen by :class:`MediaRepo`'s ``in_database``:

- files under ``ECHOIC_DATA_DIR/media/<tenant>/<media id>`` (the default with SQLite): every
  process that runs jobs must see that directory, so on several machines it is a shared mount;
- the ``media_blobs`` table (the default with PostgreSQL): the database is then the only thing
  machines share, at the cost of holding a file (≤ the upload limit) in memory while it moves.

The row records ``location`` (``file:<path>`` or ``db``), the SHA-256, size, probed format and
duration, and when the retention sweeper may delete the audio. Deleting audio keeps the row
(and its audit trail) with ``deleted_at`` set.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import BinaryIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from echoic.errors import MediaGoneError, NotFoundError
from echoic.storage import audit
from echoic.storage.audit import Event
from echoic.storage.db import Database
from echoic.storage.records import JobStatus, Media, new_id
from echoic.storage.schema import jobs, media, media_blobs

_COPY_BUFFER = 1024 * 1024


class MediaRepo:
    def __init__(self, db: Database, root: Path, *, in_database: bool) -> None:
        self.db = db
        self.root = root
        self.in_database = in_database

    # -- writing ----------------------------------------------------------------------------------

    def stage(self, tenant_id: str, source: BinaryIO) -> StagedAudio:
        """Copy ``source`` (from its start) where media live, hashing it on the way; the row is
        written by :meth:`insert` in the caller's transaction, and :meth:`StagedAudio.discard`
        undoes the copy if that transaction fails."""
        media_id = new_id("md")
        digest = hashlib.sha256()
        source.seek(0)
        if self.in_database:
            data = source.read()
            digest.update(data)
            return StagedAudio(media_id, "db", digest.hexdigest(), len(data), data=data)
        relative = Path(tenant_id) / media_id
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        size = 0
        with path.open("wb") as out:
            while block := source.read(_COPY_BUFFER):
                digest.update(block)
                out.write(block)
                size += len(block)
        return StagedAudio(
            media_id, f"file:{relative.as_posix()}", digest.hexdigest(), size, path=path
        )

    def insert(
        self,
        conn: Connection,
        *,
        tenant_id: str,
        source: str,
        now: float,
        staged: StagedAudio | None = None,
        url: str | None = None,
        filename: str | None = None,
        content_type: str | None = None,
        duration_s: float | None = None,
    ) -> str:
        """The media row (and the bytes, for the database store); a URL's media has no audio
        until a worker fetched it (:meth:`attach`)."""
        media_id = staged.media_id if staged is not None else new_id("md")
        conn.execute(
            media.insert().values(
                id=media_id,
                tenant_id=tenant_id,
                source=source,
                url=url,
                filename=filename,
                sha256=staged.sha256 if staged else None,
                content_type=content_type,
                size_bytes=staged.size_bytes if staged else None,
                duration_s=duration_s,
                location=staged.location if staged else None,
                created_at=now,
            )
        )
        if staged is not None and staged.data is not None:
            conn.execute(media_blobs.insert().values(media_id=media_id, data=staged.data))
        return media_id

    def attach(
        self,
        conn: Connection,
        media_id: str,
        staged: StagedAudio,
        *,
        content_type: str | None,
        duration_s: float | None,
        filename: str | None,
    ) -> None:
        """Give a URL's media row the audio a worker fetched (``staged`` under ``media_id``)."""
        conn.execute(media_blobs.delete().where(media_blobs.c.media_id == media_id))
        if staged.data is not None:
            conn.execute(media_blobs.insert().values(media_id=media_id, data=staged.data))
        conn.execute(
            media.update()
            .where(media.c.id == media_id)
            .values(
                sha256=staged.sha256,
                size_bytes=staged.size_bytes,
                location=staged.location,
                content_type=content_type,
                duration_s=duration_s,
                filename=filename,
            )
        )

    def stage_as(self, media_id: str, tenant_id: str, source: BinaryIO) -> StagedAudio:
        """:meth:`stage` under an existing media id (a URL's media, fetched by a worker)."""
        staged = self.stage(tenant_id, source)
        if staged.path is not None:
            target = staged.path.with_name(media_id)
            staged.path.replace(target)
            return StagedAudio(
                media_id,
                f"file:{Path(tenant_id, media_id).as_posix()}",
                staged.sha256,
                staged.size_bytes,
                path=target,
            )
        return StagedAudio(media_id, "db", staged.sha256, staged.size_bytes, data=staged.data)

    # -- reading ----------------------------------------------------------------------------------

    def get(self, tenant_id: str | None, media_id: str) -> Media:
        """``tenant_id=None``: any tenant's (workers)."""
        with self.db.read() as conn:
            return _get(conn, tenant_id, media_id)

    def open(self, item: Media) -> BinaryIO:
        """The audio's bytes; :class:`MediaGoneError` once they were deleted."""
        if item.deleted or item.location is None:
            raise MediaGoneError(f"The audio of media {item.id!r} was deleted.")
        if item.location == "db":
            with self.db.read() as conn:
                data = conn.execute(
                    sa.select(media_blobs.c.data).where(media_blobs.c.media_id == item.id)
                ).scalar_one_or_none()
            if data is None:
                raise MediaGoneError(f"The audio of media {item.id!r} is missing.")
            return io.BytesIO(data)
        path = self.root / item.location.removeprefix("file:")
        try:
            return path.open("rb")
        except FileNotFoundError:
            raise MediaGoneError(
                f"The audio of media {item.id!r} is missing from {self.root} (is the media "
                "directory shared with this machine?)."
            ) from None

    # -- deleting ----------------------------------------------------------------------------------

    def delete_audio(
        self, conn: Connection, item: Media, *, actor: str, now: float, reason: str
    ) -> None:
        """Remove the bytes (the row stays, with ``deleted_at``) and audit it."""
        if item.deleted:
            return
        conn.execute(media_blobs.delete().where(media_blobs.c.media_id == item.id))
        conn.execute(
            media.update()
            .where(media.c.id == item.id)
            .values(deleted_at=now, location=None, delete_after=None)
        )
        if item.location and item.location.startswith("file:"):
            (self.root / item.location.removeprefix("file:")).unlink(missing_ok=True)
        audit.record(
            conn,
            tenant_id=item.tenant_id,
            event=Event.DELETED,
            actor=actor,
            at=now,
            media_id=item.id,
            detail={"what": "audio", "reason": reason},
        )

    def sweep(self, now: float, *, actor: str = "retention") -> int:
        """Delete the audio whose retention ran out, except where a job still needs it;
        returns how many."""
        busy = sa.select(jobs.c.media_id).where(
            jobs.c.status.in_((JobStatus.QUEUED.value, JobStatus.RUNNING.value))
        )
        with self.db.write() as conn:
            rows = conn.execute(
                sa.select(media).where(
                    media.c.delete_after <= now,
                    media.c.deleted_at.is_(None),
                    media.c.id.not_in(busy),
                )
            ).mappings()
            due = [_media_of(row) for row in rows]
            for item in due:
                self.delete_audio(conn, item, actor=actor, now=now, reason="retention")
        return len(due)


class StagedAudio:
    """Audio copied where media live, before (or without) its row."""

    def __init__(
        self,
        media_id: str,
        location: str,
        sha256: str,
        size_bytes: int,
        *,
        path: Path | None = None,
        data: bytes | None = None,
    ) -> None:
        self.media_id = media_id
        self.location = location
        self.sha256 = sha256
        self.size_bytes = size_bytes
        self.path = path
        self.data = data

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def _get(conn: Connection, tenant_id: str | None, media_id: str) -> Media:
    query = sa.select(media).where(media.c.id == media_id)
    if tenant_id is not None:
        query = query.where(media.c.tenant_id == tenant_id)
    row = conn.execute(query).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"No media {media_id!r}.")
    return _media_of(row)


def get_media(conn: Connection, tenant_id: str | None, media_id: str) -> Media:
    return _get(conn, tenant_id, media_id)


def _media_of(row: sa.RowMapping) -> Media:
    return Media(
        id=row["id"],
        tenant_id=row["tenant_id"],
        source=row["source"],
        url=row["url"],
        filename=row["filename"],
        sha256=row["sha256"],
        content_type=row["content_type"],
        size_bytes=row["size_bytes"],
        duration_s=row["duration_s"],
        location=row["location"],
        created_at=row["created_at"],
        delete_after=row["delete_after"],
        deleted_at=row["deleted_at"],
    )
