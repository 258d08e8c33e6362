"""The job queue as clients see it: submit, read, list, cancel (see :mod:`echoic.storage.leases`
for what workers do with a job). Every method takes ``now`` (seconds since the epoch): time is
passed in, as everywhere in echoic.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from echoic.errors import NotFoundError
from echoic.storage import audit
from echoic.storage.audit import Event
from echoic.storage.db import Database
from echoic.storage.records import Job, JobError, JobStatus, Submission, new_id
from echoic.storage.schema import jobs

_ACTIVE = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


class JobQueue:
    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(
        self,
        conn: Connection,
        submission: Submission,
        *,
        media_id: str,
        transcript_id: str | None = None,
    ) -> str:
        """A queued job, in the caller's transaction (with its media row)."""
        job_id = new_id("job")
        tenant_id, now = submission.tenant_id, submission.now
        conn.execute(
            jobs.insert().values(
                id=job_id,
                tenant_id=tenant_id,
                media_id=media_id,
                transcript_id=transcript_id,
                status=JobStatus.QUEUED.value,
                priority=submission.priority,
                options=submission.options,
                attempts=0,
                max_attempts=submission.max_attempts,
                available_at=now,
                created_at=now,
                progress=0.0,
                audio_done_s=0.0,
                dead_letter=False,
            )
        )
        audit.record(
            conn,
            tenant_id=tenant_id,
            event=Event.CREATED,
            actor=submission.actor,
            at=now,
            job_id=job_id,
            media_id=media_id,
            transcript_id=transcript_id,
            detail={"priority": submission.priority},
        )
        return job_id

    def get(self, tenant_id: str | None, job_id: str) -> Job:
        """``tenant_id=None``: any tenant's (workers); another tenant's job is not found."""
        with self.db.read() as conn:
            return get_job(conn, tenant_id, job_id)

    def list(
        self,
        tenant_id: str,
        *,
        status: JobStatus | None = None,
        limit: int = 20,
        before: tuple[float, str] | None = None,
    ) -> list[Job]:
        """Newest first; ``before`` is the ``(created_at, id)`` of the last job of the previous
        page (keyset pagination: stable while jobs are added)."""
        query = sa.select(jobs).where(jobs.c.tenant_id == tenant_id)
        if status is not None:
            query = query.where(jobs.c.status == status.value)
        if before is not None:
            created, last_id = before
            query = query.where(
                sa.or_(
                    jobs.c.created_at < created,
                    sa.and_(jobs.c.created_at == created, jobs.c.id < last_id),
                )
            )
        query = query.order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(limit)
        with self.db.read() as conn:
            return [job_of(row) for row in conn.execute(query).mappings()]

    def cancel(self, tenant_id: str, job_id: str, *, actor: str, now: float) -> Job:
        """Cancel a queued or running job (a running one stops at its worker's next report);
        a finished job is left as it is."""
        with self.db.write() as conn:
            job = get_job(conn, tenant_id, job_id, lock=True)
            if job.status.finished:
                return job
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id)
                .values(
                    status=JobStatus.CANCELLED.value,
                    finished_at=now,
                    lease_id=None,
                    lease_expires_at=None,
                )
            )
            audit.record(
                conn,
                tenant_id=tenant_id,
                event=Event.CANCELLED,
                actor=actor,
                at=now,
                job_id=job_id,
                detail={"was": job.status.value, "worker_id": job.worker_id},
            )
            return get_job(conn, tenant_id, job_id)

    def depth(self) -> dict[str, int]:
        """Jobs per active status, all tenants (``echoic_queue_depth{queue="jobs:queued"}``)."""
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(jobs.c.status, sa.func.count())
                .where(jobs.c.status.in_(_ACTIVE))
                .group_by(jobs.c.status)
            ).all()
        counts = dict.fromkeys(_ACTIVE, 0)
        counts.update({row[0]: int(row[1]) for row in rows})
        return counts


def get_job(conn: Connection, tenant_id: str | None, job_id: str, *, lock: bool = False) -> Job:
    query = sa.select(jobs).where(jobs.c.id == job_id)
    if tenant_id is not None:
        query = query.where(jobs.c.tenant_id == tenant_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"No job {job_id!r}.")
    return job_of(row)


def job_of(row: sa.RowMapping) -> Job:
    error = row["error"]
    return Job(
        id=row["id"],
        tenant_id=row["tenant_id"],
        media_id=row["media_id"],
        transcript_id=row["transcript_id"],
        status=JobStatus(row["status"]),
        priority=row["priority"],
        options=dict(row["options"] or {}),
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        available_at=row["available_at"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        worker_id=row["worker_id"],
        lease_id=row["lease_id"],
        lease_expires_at=row["lease_expires_at"],
        progress=row["progress"],
        audio_done_s=row["audio_done_s"],
        error=None if error is None else JobError(**error),
        dead_letter=bool(row["dead_letter"]),
    )
