"""The tables (SQLAlchemy Core), one schema for SQLite and PostgreSQL (DESIGN.md §6).

Times are seconds since the epoch (``float``), as every clock in echoic; ids are strings with a
prefix that says what they name (``job_…``, ``tr_…``, ``md_…``, ``tn_…``, ``ek_…``). Every row
belongs to a tenant. A change here needs a migration in ``migrations/versions``.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Id = sa.String(40)
Time = sa.Float(precision=53)  # double precision on PostgreSQL: microseconds survive

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", Time, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("tenant_id", Id, sa.ForeignKey("tenants.id"), nullable=False, index=True),
    sa.Column("name", sa.String(200)),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("revoked_at", Time),
)

media = sa.Table(
    "media",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("tenant_id", Id, sa.ForeignKey("tenants.id"), nullable=False, index=True),
    sa.Column("source", sa.String(16), nullable=False),  # upload | url
    sa.Column("url", sa.Text),
    sa.Column("filename", sa.String(500)),
    sa.Column("sha256", sa.String(64)),
    sa.Column("content_type", sa.String(100)),
    sa.Column("size_bytes", sa.BigInteger),
    sa.Column("duration_s", sa.Float),
    #: Where the audio is kept: ``file:<relative path>`` or ``db`` (the media_blobs table).
    sa.Column("location", sa.String(500)),
    sa.Column("created_at", Time, nullable=False),
    #: When the retention sweeper may delete the audio (``None``: keep it).
    sa.Column("delete_after", Time, index=True),
    sa.Column("deleted_at", Time),
)

media_blobs = sa.Table(
    "media_blobs",
    metadata,
    sa.Column("media_id", Id, sa.ForeignKey("media.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("tenant_id", Id, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("media_id", Id, sa.ForeignKey("media.id"), nullable=False),
    #: Set for a re-run of an existing transcript (the result is its next version), and for
    #: every completed job (the transcript it wrote).
    sa.Column("transcript_id", Id),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False, default=0),
    sa.Column("options", sa.JSON, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    #: A queued job is not claimed before this (retry backoff).
    sa.Column("available_at", Time, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("started_at", Time),
    sa.Column("finished_at", Time),
    sa.Column("worker_id", sa.String(200)),
    sa.Column("lease_id", Id),
    sa.Column("lease_expires_at", Time),
    sa.Column("progress", sa.Float, nullable=False, default=0.0),
    sa.Column("audio_done_s", sa.Float, nullable=False, default=0.0),
    sa.Column("error", sa.JSON),
    sa.Column("dead_letter", sa.Boolean, nullable=False, default=False),
    sa.Index("ix_jobs_claim", "status", "priority", "created_at"),
    sa.Index("ix_jobs_tenant_created", "tenant_id", "created_at"),
)

transcripts = sa.Table(
    "transcripts",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("tenant_id", Id, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("media_id", Id, sa.ForeignKey("media.id")),
    sa.Column("job_id", Id),
    sa.Column("current_version", sa.Integer, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Index("ix_transcripts_tenant_created", "tenant_id", "created_at"),
)

transcript_versions = sa.Table(
    "transcript_versions",
    metadata,
    sa.Column(
        "transcript_id",
        Id,
        sa.ForeignKey("transcripts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("reason", sa.String(16), nullable=False),  # transcription | rerun | edit
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("language", sa.String(16)),
    sa.Column("language_probability", sa.Float),
    sa.Column("duration_s", sa.Float, nullable=False),
    sa.Column("task", sa.String(16), nullable=False),
    sa.Column("provider", sa.String(50), nullable=False),
    sa.Column("engine", sa.String(100), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    #: The options it was made with, and its metadata (device, timings, fallbacks).
    sa.Column("options", sa.JSON, nullable=False),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("created_at", Time, nullable=False),
)

segments = sa.Table(
    "segments",
    metadata,
    sa.Column("transcript_id", Id, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("start_s", sa.Float, nullable=False),
    sa.Column("end_s", sa.Float, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("speaker", sa.String(100)),
    sa.Column("confidence", sa.Float),
    sa.Column("avg_logprob", sa.Float),
    sa.Column("no_speech_prob", sa.Float),
    sa.Column("compression_ratio", sa.Float),
    sa.Column("temperature", sa.Float),
    #: ``[[word, start, end, probability], …]``; ``None`` when word timings were not asked for.
    sa.Column("words", sa.JSON),
    sa.ForeignKeyConstraint(
        ["transcript_id", "version"],
        ["transcript_versions.transcript_id", "transcript_versions.version"],
        ondelete="CASCADE",
    ),
)

chunks = sa.Table(
    "chunks",
    metadata,
    sa.Column("transcript_id", Id, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("start_s", sa.Float, nullable=False),
    sa.Column("end_s", sa.Float, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("segment_ids", sa.JSON, nullable=False),
    sa.ForeignKeyConstraint(
        ["transcript_id", "version"],
        ["transcript_versions.transcript_id", "transcript_versions.version"],
        ondelete="CASCADE",
    ),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("tenant_id", Id, nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", Time, nullable=False),
    sa.Column("job_id", Id),
    sa.Column("transcript_id", Id),
    sa.Column("media_id", Id),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Index("ix_audit_events_job", "job_id", "id"),
    sa.Index("ix_audit_events_tenant", "tenant_id", "id"),
)
