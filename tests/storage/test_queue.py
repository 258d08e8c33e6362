"""The job queue on SQLite and PostgreSQL: leases, priorities, retries, cancellation, audit."""

from __future__ import annotations

import io
import multiprocessing
import threading

import pytest

from echoic.errors import ConflictError, JobCancelledError, LeaseLostError, NotFoundError
from echoic.storage.audit import events
from echoic.storage.records import Job, JobError, JobStatus, Submission
from echoic.storage.store import Store
from tests.storage.conftest import LEASE_S, NOW, TENANT, transcript


def submit(store: Store, *, priority: int = 0, at: float = NOW, attempts: int = 3) -> Job:
    return store.submit_upload(
        Submission(
            tenant_id=TENANT,
            options={"model": "tiny.en"},
            priority=priority,
            max_attempts=attempts,
            actor="test",
            now=at,
        ),
        io.BytesIO(b"RIFF-not-really-audio"),
        filename="a.wav",
    )


def audit_of(store: Store, job_id: str) -> list[str]:
    with store.db.read() as conn:
        return [e.event for e in events(conn, job_id=job_id)]


def test_a_submitted_job_is_queued_and_audited(store: Store) -> None:
    job = submit(store)
    assert job.status is JobStatus.QUEUED
    assert job.attempts == 0
    assert store.jobs.get(TENANT, job.id) == job
    assert audit_of(store, job.id) == ["created"]
    media = store.media.get(TENANT, job.media_id)
    assert media.size_bytes == len(b"RIFF-not-really-audio")
    with store.media.open(media) as audio:
        assert audio.read() == b"RIFF-not-really-audio"


def test_claims_go_by_priority_then_first_come(store: Store) -> None:
    low = submit(store, priority=0, at=NOW)
    high = submit(store, priority=5, at=NOW + 1)
    low_later = submit(store, priority=0, at=NOW + 2)
    order = []
    for _ in range(3):
        claimed = store.leases.claim("w1", now=NOW + 10, lease_s=LEASE_S)
        assert claimed is not None
        order.append(claimed[0].id)
    assert order == [high.id, low.id, low_later.id]
    assert store.leases.claim("w1", now=NOW + 10, lease_s=LEASE_S) is None


def test_a_claim_leases_the_job(store: Store) -> None:
    job = submit(store)
    claimed = store.leases.claim("w1", now=NOW, lease_s=LEASE_S)
    assert claimed is not None
    running, lease = claimed
    assert running.status is JobStatus.RUNNING
    assert running.attempts == 1
    assert running.worker_id == "w1"
    assert running.lease_id == lease.lease_id
    assert lease.expires_at == NOW + LEASE_S
    assert audit_of(store, job.id) == ["created", "leased"]


def test_renewing_extends_the_lease_and_records_progress(store: Store) -> None:
    submit(store)
    claimed = store.leases.claim("w1", now=NOW, lease_s=LEASE_S)
    assert claimed is not None
    job, lease = claimed
    lease = store.leases.renew(lease, now=NOW + 20, lease_s=LEASE_S, progress=0.5, audio_done_s=5)
    assert lease.expires_at == NOW + 20 + LEASE_S
    # Past the first expiry, but within the renewed one: still this worker's.
    lease = store.leases.renew(lease, now=NOW + 40, lease_s=LEASE_S)
    current = store.jobs.get(TENANT, job.id)
    assert current.progress == 0.5
    assert current.audio_done_s == 5
    with store.db.read() as conn:
        progress = [e for e in events(conn, job_id=job.id) if e.event == "progress"]
    assert [p.detail for p in progress] == [{"percent": 50.0, "audio_done_s": 5.0}]


def test_an_expired_lease_returns_the_job_to_the_queue(store: Store) -> None:
    job = submit(store)
    first = store.leases.claim("w1", now=NOW, lease_s=LEASE_S)
    assert first is not None
    # Another worker finds nothing while the lease lives, then takes the job over.
    assert store.leases.claim("w2", now=NOW + LEASE_S - 1, lease_s=LEASE_S) is None
    second = store.leases.claim("w2", now=NOW + LEASE_S + 1, lease_s=LEASE_S)
    assert second is not None
    assert second[0].id == job.id
    assert second[0].attempts == 2
    assert second[1].lease_id != first[1].lease_id
    # The first worker comes back: every report of its is refused, and audited.
    with pytest.raises(LeaseLostError):
        store.leases.renew(first[1], now=NOW + LEASE_S + 2, lease_s=LEASE_S)
    with pytest.raises(LeaseLostError):
        store.leases.complete(first[1], transcript("late"), now=NOW + LEASE_S + 3)
    store.leases.complete(second[1], transcript("on time"), now=NOW + LEASE_S + 4)
    trail = audit_of(store, job.id)
    assert trail == [
        "created",
        "leased",
        "lease_expired",
        "leased",
        "refused",
        "refused",
        "completed",
    ]
    done = store.jobs.get(TENANT, job.id)
    assert done.status is JobStatus.COMPLETED
    assert done.transcript_id is not None
    assert store.transcripts.versions(TENANT, done.transcript_id)[-1].version == 1
    _, _, kept = store.transcripts.get(TENANT, done.transcript_id)
    assert kept.text == "on time"


def test_a_completion_after_the_lease_expired_is_refused(store: Store) -> None:
    job = submit(store)
    claimed = store.leases.claim("w1", now=NOW, lease_s=LEASE_S)
    assert claimed is not None
    with pytest.raises(LeaseLostError, match="expired"):
        store.leases.complete(claimed[1], transcript("too late"), now=NOW + LEASE_S + 1)
    current = store.jobs.get(TENANT, job.id)
    assert current.status is JobStatus.RUNNING  # until a claim returns it to the queue
    assert current.transcript_id is None
    assert store.transcripts.recent(TENANT) == []
    assert audit_of(store, job.id)[-1] == "refused"


def test_completion_stores_the_transcript_with_segments_words_and_chunks(store: Store) -> None:
    submit(store)
    claimed = store.leases.claim("w1", now=NOW, lease_s=LEASE_S)
    assert claimed is not None
    said = transcript("Ask not what your country can do for you.", "Ask what you can do.")
    transcript_id = store.leases.complete(claimed[1], said, now=NOW + 1)
    info, version, kept = store.transcripts.get(TENANT, transcript_id)
    assert info.current_version == 1
    assert version.reason == "transcription"
    assert version.actor == "w1"
    assert version.model == "tiny.en"
    assert version.options == {"model": "tiny.en"}
    assert kept.text == said.text
    assert kept.segments == said.segments
    assert kept.words == said.words
    number, chunks = store.transcripts.chunks(TENANT, transcript_id)
    assert number == 1
    assert [c.segment_ids for c in chunks] == [(0, 1)]
    assert chunks[0].start == 0.0
    assert chunks[0].end == said.segments[-1].end


def test_retryable_failures_back_off_then_dead_letter(store: Store) -> None:
    job = submit(store, attempts=2)
    error = JobError(code="engine_error", message="boom", retryable=True)
    claimed = store.leases.claim("w1", now=NOW, lease_s=LEASE_S)
    assert claimed is not None
    retried = store.leases.fail(claimed[1], error, now=NOW + 1, retry_in_s=10)
    assert retried.status is JobStatus.QUEUED
    assert retried.available_at == NOW + 11
    assert store.leases.claim("w1", now=NOW + 5, lease_s=LEASE_S) is None  # not due yet
    claimed = store.leases.claim("w1", now=NOW + 11, lease_s=LEASE_S)
    assert claimed is not None
    dead = store.leases.fail(claimed[1], error, now=NOW + 12, retry_in_s=10)
    assert dead.status is JobStatus.FAILED
    assert dead.dead_letter
    assert dead.error == error
    assert audit_of(store, job.id) == ["created", "leased", "retried", "leased", "failed"]


def test_a_permanent_failure_fails_at_once(store: Store) -> None:
    submit(store, attempts=5)
    claimed = store.leases.claim("w1", now=NOW, lease_s=LEASE_S)
    assert claimed is not None
    error = JobError(code="not_audio", message="not an audio file", retryable=False)
    failed = store.leases.fail(claimed[1], error, now=NOW + 1, retry_in_s=10)
    assert failed.status is JobStatus.FAILED
    assert not failed.dead_letter
    assert failed.error == error


def test_a_job_whose_workers_keep_dying_is_dead_lettered(store: Store) -> None:
    job = submit(store, attempts=2)
    now = NOW
    for _ in range(2):
        assert store.leases.claim("w", now=now, lease_s=LEASE_S) is not None
        now += LEASE_S + 1
    store.leases.requeue_expired(now=now)
    dead = store.jobs.get(TENANT, job.id)
    assert dead.status is JobStatus.FAILED
    assert dead.dead_letter
    assert dead.error is not None
    assert dead.error.code == "lease_expired"


def test_cancelling_a_running_job_stops_its_worker(store: Store) -> None:
    job = submit(store)
    claimed = store.leases.claim("w1", now=NOW, lease_s=LEASE_S)
    assert claimed is not None
    cancelled = store.jobs.cancel(TENANT, job.id, actor="user", now=NOW + 1)
    assert cancelled.status is JobStatus.CANCELLED
    with pytest.raises(JobCancelledError):
        store.leases.renew(claimed[1], now=NOW + 2, lease_s=LEASE_S)
    with pytest.raises(JobCancelledError):
        store.leases.complete(claimed[1], transcript("x"), now=NOW + 3)
    assert store.jobs.get(TENANT, job.id).transcript_id is None
    # Cancelling again, or a finished job, changes nothing.
    assert store.jobs.cancel(TENANT, job.id, actor="user", now=NOW + 4) == cancelled


def test_release_requeues_without_spending_an_attempt(store: Store) -> None:
    job = submit(store)
    claimed = store.leases.claim("w1", now=NOW, lease_s=LEASE_S)
    assert claimed is not None
    store.leases.release(claimed[1], now=NOW + 1)
    again = store.jobs.get(TENANT, job.id)
    assert again.status is JobStatus.QUEUED
    assert again.attempts == 0


def test_another_tenants_job_is_not_found(store: Store) -> None:
    job = submit(store)
    with pytest.raises(NotFoundError):
        store.jobs.get("tn_other", job.id)
    with pytest.raises(NotFoundError):
        store.jobs.cancel("tn_other", job.id, actor="x", now=NOW)
    assert store.jobs.list("tn_other") == []
    assert [j.id for j in store.jobs.list(TENANT)] == [job.id]


def test_listing_pages_newest_first_and_filters_by_status(store: Store) -> None:
    jobs = [submit(store, at=NOW + i) for i in range(5)]
    claimed = store.leases.claim("w", now=NOW + 10, lease_s=LEASE_S)
    assert claimed is not None
    first = store.jobs.list(TENANT, limit=2)
    assert [j.id for j in first] == [jobs[4].id, jobs[3].id]
    second = store.jobs.list(TENANT, limit=2, before=(first[-1].created_at, first[-1].id))
    assert [j.id for j in second] == [jobs[2].id, jobs[1].id]
    running = store.jobs.list(TENANT, status=JobStatus.RUNNING)
    assert [j.id for j in running] == [claimed[0].id]


def test_concurrent_claims_never_share_a_job(store: Store, database_url: str) -> None:
    from echoic.storage.db import Database

    for i in range(12):
        submit(store, at=NOW + i)
    claimed: list[str] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        db = Database.open(database_url, migrate=False)
        other = Store(db, store.media.root)
        try:
            while (got := other.leases.claim(name, now=NOW + 100, lease_s=LEASE_S)) is not None:
                with lock:
                    claimed.append(got[0].id)
        finally:
            other.close()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 12
    assert len(set(claimed)) == 12


def _claim_all(database_url: str, media_root: str, name: str) -> list[str]:
    """In another process: claim until the queue is empty."""
    from pathlib import Path

    from echoic.storage.db import Database

    other = Store(Database.open(database_url, migrate=False), Path(media_root))
    claimed = []
    try:
        while (got := other.leases.claim(name, now=NOW + 100, lease_s=LEASE_S)) is not None:
            claimed.append(got[0].id)
    finally:
        other.close()
    return claimed


def test_claims_from_several_processes_never_share_a_job(store: Store, database_url: str) -> None:
    jobs = {submit(store, at=NOW + i).id for i in range(30)}
    context = multiprocessing.get_context("spawn")
    with context.Pool(3) as pool:
        results = pool.starmap(
            _claim_all, [(database_url, str(store.media.root), f"p{i}") for i in range(3)]
        )
    claimed = [job_id for result in results for job_id in result]
    assert sorted(claimed) == sorted(jobs)  # every job once, none twice


def test_a_rerun_of_a_deleted_transcript_fails_and_keeps_its_audio_until_then(
    store: Store,
) -> None:
    submit(store)
    claimed = store.leases.claim("w1", now=NOW, lease_s=LEASE_S)
    assert claimed is not None
    transcript_id = store.leases.complete(claimed[1], transcript("first"), now=NOW + 1)
    rerun = store.submit_rerun(
        Submission(tenant_id=TENANT, options={}, actor="test", now=NOW + 2), transcript_id
    )
    store.delete_transcript(TENANT, transcript_id, actor="test", now=NOW + 3)
    assert not store.media.get(TENANT, rerun.media_id).deleted  # the re-run still needs it
    with pytest.raises(ConflictError, match=rerun.id):
        store.delete_media(TENANT, rerun.media_id, actor="test", now=NOW + 3)
    claimed = store.leases.claim("w1", now=NOW + 4, lease_s=LEASE_S)
    assert claimed is not None
    with pytest.raises(NotFoundError, match="was deleted"):
        store.leases.complete(claimed[1], transcript("second"), now=NOW + 5)
    failed = store.leases.fail(
        claimed[1],
        JobError(code="not_found", message="deleted", retryable=False),
        now=NOW + 6,
        retry_in_s=None,
    )
    assert failed.status is JobStatus.FAILED
    store.delete_media(TENANT, rerun.media_id, actor="test", now=NOW + 7)
    assert store.media.get(TENANT, rerun.media_id).deleted
