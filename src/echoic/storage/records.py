"""What the store hands out: frozen records of its rows (pydantic stays at the edges)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

#: The tenant of every caller when auth is off (a loopback server): one user, one tenant.
LOCAL_TENANT = "tn_local"


def new_id(prefix: str) -> str:
    """``job_3f9a…``: a prefix that says what it names and 96 random bits."""
    return f"{prefix}_{secrets.token_hex(12)}"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


@dataclass(frozen=True, kw_only=True)
class JobError:
    code: str
    message: str
    retryable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "retryable": self.retryable}


@dataclass(frozen=True, kw_only=True)
class Submission:
    """What every new job carries, whatever its audio: the tenant it belongs to, its options
    (JSON), priority and attempt budget, who submitted it and when."""

    tenant_id: str
    options: dict[str, Any]
    priority: int = 0
    max_attempts: int = 3
    actor: str = "local"
    now: float


@dataclass(frozen=True, kw_only=True)
class Media:
    id: str
    tenant_id: str
    source: str  # upload | url
    url: str | None
    filename: str | None
    sha256: str | None
    content_type: str | None
    size_bytes: int | None
    duration_s: float | None
    location: str | None
    created_at: float
    delete_after: float | None
    deleted_at: float | None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


@dataclass(frozen=True, kw_only=True)
class Job:
    id: str
    tenant_id: str
    media_id: str
    transcript_id: str | None
    status: JobStatus
    priority: int
    options: dict[str, Any]
    attempts: int
    max_attempts: int
    available_at: float
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    worker_id: str | None = None
    lease_id: str | None = None
    lease_expires_at: float | None = None
    progress: float = 0.0
    audio_done_s: float = 0.0
    error: JobError | None = None
    dead_letter: bool = False


@dataclass(frozen=True, kw_only=True)
class Lease:
    """A worker's claim on a job: reports count only with this id, until it expires."""

    job_id: str
    lease_id: str
    worker_id: str
    expires_at: float


@dataclass(frozen=True, kw_only=True)
class TranscriptInfo:
    id: str
    tenant_id: str
    media_id: str | None
    job_id: str | None
    current_version: int
    created_at: float
    updated_at: float


@dataclass(frozen=True, kw_only=True)
class VersionInfo:
    """One version of a transcript, without its segments."""

    transcript_id: str
    version: int
    reason: str  # transcription | rerun | edit
    actor: str
    text: str
    language: str | None
    duration_s: float
    provider: str
    engine: str
    model: str
    options: dict[str, Any]
    metadata: dict[str, Any]
    created_at: float


@dataclass(frozen=True, kw_only=True)
class AuditEvent:
    id: int
    tenant_id: str
    event: str
    actor: str
    at: float
    job_id: str | None = None
    transcript_id: str | None = None
    media_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
