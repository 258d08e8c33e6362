"""Audit events: who did what to which job, transcript or media, and when.

Written in the same transaction as the change they record, so the trail never disagrees with
the data. A job's events are also its progress feed (``GET /v1/jobs/{id}/events``): their ids
increase, so a client resumes after the last id it saw.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from echoic.storage.records import AuditEvent
from echoic.storage.schema import audit_events


class Event:
    """The events echoic records (a closed vocabulary: dashboards and tests match on them)."""

    CREATED = "created"
    LEASED = "leased"
    PROGRESS = "progress"
    COMPLETED = "completed"
    FAILED = "failed"
    RETRIED = "retried"
    CANCELLED = "cancelled"
    RELEASED = "released"
    LEASE_EXPIRED = "lease_expired"
    REFUSED = "refused"  # a report from a worker that no longer held the lease
    FALLBACK = "fallback"
    DELETED = "deleted"
    EDITED = "edited"


def record(
    conn: Connection,
    *,
    tenant_id: str,
    event: str,
    actor: str,
    at: float,
    job_id: str | None = None,
    transcript_id: str | None = None,
    media_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        audit_events.insert().values(
            tenant_id=tenant_id,
            event=event,
            actor=actor,
            at=at,
            job_id=job_id,
            transcript_id=transcript_id,
            media_id=media_id,
            detail=detail or {},
        )
    )


def events(
    conn: Connection,
    *,
    tenant_id: str | None = None,
    job_id: str | None = None,
    transcript_id: str | None = None,
    media_id: str | None = None,
    after_id: int = 0,
    limit: int = 1000,
) -> list[AuditEvent]:
    """Events in the order they happened, after ``after_id``, filtered by what is given."""
    query = sa.select(audit_events).where(audit_events.c.id > after_id)
    for column, value in (
        (audit_events.c.tenant_id, tenant_id),
        (audit_events.c.job_id, job_id),
        (audit_events.c.transcript_id, transcript_id),
        (audit_events.c.media_id, media_id),
    ):
        if value is not None:
            query = query.where(column == value)
    rows = conn.execute(query.order_by(audit_events.c.id).limit(limit)).mappings()
    return [
        AuditEvent(
            id=row["id"],
            tenant_id=row["tenant_id"],
            event=row["event"],
            actor=row["actor"],
            at=row["at"],
            job_id=row["job_id"],
            transcript_id=row["transcript_id"],
            media_id=row["media_id"],
            detail=dict(row["detail"] or {}),
        )
        for row in rows
    ]
