"""Leases: how workers claim a job, renew their claim, and report on it (complete, fail,
release); expired leases return jobs to the queue.

A worker *claims* the most urgent queued job (higher ``priority`` first, then first come) and
gets a :class:`Lease`: a ``lease_id`` and an expiry. While it works it renews the lease (each
progress report is a renewal); every report — progress, completion, failure, release — is
accepted only with the job's current ``lease_id`` before it expires, and anything else raises
:class:`LeaseLostError` (and is audited as ``refused``). A lease that expires returns the job to
the queue, so a worker that died (``kill -9``, a lost machine) costs one lease period; the next
claim picks it up. Each claim counts an attempt: a job whose workers keep dying is dead-lettered
after ``max_attempts`` like one that keeps failing.

Claims on PostgreSQL select with ``FOR UPDATE SKIP LOCKED``: workers on many machines claim
different jobs without waiting for each other. On SQLite the same statement runs inside
``BEGIN IMMEDIATE`` (:mod:`echoic.storage.db`), which serialises claims across processes. A
maintained queue library on PostgreSQL (procrastinate, pgqueuer) was considered, but none has
this lease contract (a lease id checked on every report, audited refusals) and none runs on
SQLite, which the single-machine default needs; one statement per operation here is simpler
than adapting one.

Every method takes ``now`` (seconds since the epoch): time is passed in, as everywhere in echoic.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from echoic.errors import JobCancelledError, LeaseLostError
from echoic.storage import audit, transcripts
from echoic.storage.audit import Event
from echoic.storage.db import Database
from echoic.storage.jobs import get_job, job_of
from echoic.storage.records import Job, JobError, JobStatus, Lease, new_id
from echoic.storage.schema import jobs
from echoic.types import Transcript

_ACTIVE = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


class Leases:
    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(self, worker_id: str, *, now: float, lease_s: float) -> tuple[Job, Lease] | None:
        """The most urgent job that is due, leased to ``worker_id``; ``None`` when there is
        none. Expired leases go back to the queue first."""
        with self.db.write() as conn:
            self._requeue_expired(conn, now)
            row = (
                conn.execute(
                    sa.select(jobs)
                    .where(jobs.c.status == JobStatus.QUEUED.value, jobs.c.available_at <= now)
                    .order_by(jobs.c.priority.desc(), jobs.c.created_at, jobs.c.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
                .mappings()
                .one_or_none()
            )
            if row is None:
                return None
            job = job_of(row)
            lease = Lease(
                job_id=job.id,
                lease_id=new_id("ls"),
                worker_id=worker_id,
                expires_at=now + lease_s,
            )
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job.id)
                .values(
                    status=JobStatus.RUNNING.value,
                    attempts=job.attempts + 1,
                    started_at=now,
                    worker_id=worker_id,
                    lease_id=lease.lease_id,
                    lease_expires_at=lease.expires_at,
                )
            )
            audit.record(
                conn,
                tenant_id=job.tenant_id,
                event=Event.LEASED,
                actor=worker_id,
                at=now,
                job_id=job.id,
                detail={
                    "lease_id": lease.lease_id,
                    "attempt": job.attempts + 1,
                    "expires_at": lease.expires_at,
                },
            )
            return get_job(conn, None, job.id), lease

    def renew(
        self,
        lease: Lease,
        *,
        now: float,
        lease_s: float,
        progress: float | None = None,
        audio_done_s: float | None = None,
    ) -> Lease:
        """Heartbeat: extend the lease, and record progress when given (an audited
        ``progress`` event when it moved). Raises :class:`JobCancelledError` when the job was
        cancelled, :class:`LeaseLostError` when the lease is no longer this worker's."""
        with self._leased(lease, now, report="renew") as (conn, job):
            renewed = Lease(
                job_id=lease.job_id,
                lease_id=lease.lease_id,
                worker_id=lease.worker_id,
                expires_at=now + lease_s,
            )
            values: dict[str, Any] = {"lease_expires_at": renewed.expires_at}
            if progress is not None and progress > job.progress:
                values.update(progress=min(1.0, progress), audio_done_s=audio_done_s or 0.0)
                audit.record(
                    conn,
                    tenant_id=job.tenant_id,
                    event=Event.PROGRESS,
                    actor=lease.worker_id,
                    at=now,
                    job_id=job.id,
                    detail={
                        "percent": round(100 * min(1.0, progress), 1),
                        "audio_done_s": round(audio_done_s or 0.0, 3),
                    },
                )
            conn.execute(jobs.update().where(jobs.c.id == job.id).values(**values))
            return renewed

    def complete(
        self, lease: Lease, transcript: Transcript, *, now: float, reason: str = "transcription"
    ) -> str:
        """Store ``transcript`` (a new transcript, or the next version of the job's) and mark
        the job completed, in one transaction; returns the transcript id. A completion without
        the live lease is refused and audited, and writes nothing else."""
        with self._leased(lease, now, report="complete") as (conn, job):
            transcript_id = job.transcript_id
            if transcript_id is None:
                transcript_id = transcripts.create(
                    conn, tenant_id=job.tenant_id, media_id=job.media_id, job_id=job.id, now=now
                )
            else:
                reason = "rerun"
            version = transcripts.add_version(
                conn,
                transcript_id=transcript_id,
                transcript=transcript,
                reason=reason,
                actor=lease.worker_id,
                options=job.options,
                now=now,
            )
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job.id)
                .values(
                    status=JobStatus.COMPLETED.value,
                    transcript_id=transcript_id,
                    finished_at=now,
                    progress=1.0,
                    audio_done_s=transcript.duration,
                    lease_id=None,
                    lease_expires_at=None,
                    error=None,
                )
            )
            for skip in transcript.metadata.fallback or ():
                audit.record(
                    conn,
                    tenant_id=job.tenant_id,
                    event=Event.FALLBACK,
                    actor=lease.worker_id,
                    at=now,
                    job_id=job.id,
                    detail=skip.to_dict(),
                )
            audit.record(
                conn,
                tenant_id=job.tenant_id,
                event=Event.COMPLETED,
                actor=lease.worker_id,
                at=now,
                job_id=job.id,
                transcript_id=transcript_id,
                media_id=job.media_id,
                detail={
                    "version": version,
                    "lease_id": lease.lease_id,
                    "provider": transcript.metadata.provider,
                    "model": transcript.metadata.model,
                    "duration_s": transcript.duration,
                    "processing_ms": transcript.metadata.processing_ms,
                },
            )
            return transcript_id

    def fail(self, lease: Lease, error: JobError, *, now: float, retry_in_s: float | None) -> Job:
        """Report a failed attempt: back to the queue in ``retry_in_s`` seconds, or (``None``,
        or no attempts left) failed for good — dead-lettered when the error was retryable."""
        with self._leased(lease, now, report="fail") as (conn, job):
            retry = retry_in_s is not None and error.retryable and job.attempts < job.max_attempts
            common: dict[str, Any] = {
                "error": error.to_dict(),
                "lease_id": None,
                "lease_expires_at": None,
            }
            if retry:
                assert retry_in_s is not None
                conn.execute(
                    jobs.update()
                    .where(jobs.c.id == job.id)
                    .values(
                        status=JobStatus.QUEUED.value,
                        available_at=now + retry_in_s,
                        progress=0.0,
                        audio_done_s=0.0,
                        **common,
                    )
                )
                event, detail = Event.RETRIED, {"retry_in_s": round(retry_in_s, 3)}
            else:
                dead = error.retryable
                conn.execute(
                    jobs.update()
                    .where(jobs.c.id == job.id)
                    .values(
                        status=JobStatus.FAILED.value,
                        finished_at=now,
                        dead_letter=dead,
                        **common,
                    )
                )
                event, detail = Event.FAILED, {"dead_letter": dead}
            audit.record(
                conn,
                tenant_id=job.tenant_id,
                event=event,
                actor=lease.worker_id,
                at=now,
                job_id=job.id,
                detail={
                    **detail,
                    "attempt": job.attempts,
                    "lease_id": lease.lease_id,
                    "error": error.to_dict(),
                },
            )
            return get_job(conn, None, job.id)

    def release(self, lease: Lease, *, now: float) -> None:
        """Give the job back unfinished (a worker shutting down): queued again at once, and the
        attempt does not count."""
        with self._leased(lease, now, report="release") as (conn, job):
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job.id)
                .values(
                    status=JobStatus.QUEUED.value,
                    attempts=max(0, job.attempts - 1),
                    available_at=now,
                    lease_id=None,
                    lease_expires_at=None,
                    worker_id=None,
                    progress=0.0,
                    audio_done_s=0.0,
                )
            )
            audit.record(
                conn,
                tenant_id=job.tenant_id,
                event=Event.RELEASED,
                actor=lease.worker_id,
                at=now,
                job_id=job.id,
                detail={"lease_id": lease.lease_id},
            )

    def requeue_expired(self, *, now: float) -> int:
        with self.db.write() as conn:
            return self._requeue_expired(conn, now)

    @contextmanager
    def _leased(self, lease: Lease, now: float, *, report: str) -> Iterator[tuple[Connection, Job]]:
        """A write transaction on the leased job, entered only while ``lease`` is the job's
        live lease. A refused report rolls back, then is audited in a transaction of its own
        (a worker told it was cancelled while renewing is not a refusal worth recording)."""
        try:
            with self.db.write() as conn:
                job = get_job(conn, None, lease.job_id, lock=True)
                _check_lease(job, lease, now)
                yield conn, job
        except LeaseLostError as exc:
            if not (report == "renew" and isinstance(exc, JobCancelledError)):
                with self.db.write() as conn:
                    job = get_job(conn, None, lease.job_id)
                    audit.record(
                        conn,
                        tenant_id=job.tenant_id,
                        event=Event.REFUSED,
                        actor=lease.worker_id,
                        at=now,
                        job_id=job.id,
                        detail={
                            "report": report,
                            "lease_id": lease.lease_id,
                            "reason": exc.message,
                        },
                    )
            raise

    def _requeue_expired(self, conn: Connection, now: float) -> int:
        rows = conn.execute(
            sa.select(jobs)
            .where(jobs.c.status == JobStatus.RUNNING.value, jobs.c.lease_expires_at < now)
            .with_for_update(skip_locked=True)
        ).mappings()
        expired = [job_of(row) for row in rows]
        for job in expired:
            exhausted = job.attempts >= job.max_attempts
            error = JobError(
                code="lease_expired",
                message=f"The worker {job.worker_id} stopped reporting; its lease expired "
                f"(attempt {job.attempts} of {job.max_attempts}).",
                retryable=True,
            )
            values: dict[str, Any] = {
                "lease_id": None,
                "lease_expires_at": None,
                "error": error.to_dict(),
            }
            if exhausted:
                values.update(status=JobStatus.FAILED.value, finished_at=now, dead_letter=True)
            else:
                values.update(
                    status=JobStatus.QUEUED.value, available_at=now, progress=0.0, audio_done_s=0.0
                )
            conn.execute(jobs.update().where(jobs.c.id == job.id).values(**values))
            audit.record(
                conn,
                tenant_id=job.tenant_id,
                event=Event.LEASE_EXPIRED,
                actor="queue",
                at=now,
                job_id=job.id,
                detail={
                    "lease_id": job.lease_id,
                    "worker_id": job.worker_id,
                    "dead_letter": exhausted,
                },
            )
        return len(expired)


def _check_lease(job: Job, lease: Lease, now: float) -> None:
    if job.status is JobStatus.CANCELLED:
        raise JobCancelledError(f"Job {job.id} was cancelled.")
    if job.lease_id != lease.lease_id or job.status is not JobStatus.RUNNING:
        raise LeaseLostError(
            f"Job {job.id}: lease {lease.lease_id} is not the job's lease any more "
            f"(the job is {job.status.value})."
        )
    if job.lease_expires_at is None or job.lease_expires_at < now:
        raise LeaseLostError(f"Job {job.id}: lease {lease.lease_id} has expired.")
