"""Alembic's environment: migrations run on the connection :class:`Database` hands in."""

from __future__ import annotations

from alembic import context

from echoic.storage.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run echoic's migrations through echoic.storage.db.Database.upgrade")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
