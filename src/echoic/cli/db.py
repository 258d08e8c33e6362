"""``echoic db``: the database's schema (migrations also run when a server or worker starts)."""

from __future__ import annotations

import click

from echoic.cli.app import cli, database_url_option, reports_errors, settings_of


@cli.group()
def db() -> None:
    """The database: migrate it, say where it is."""


@db.command("upgrade")
@database_url_option
@click.pass_context
@reports_errors
def db_upgrade(ctx: click.Context, database_url: str | None) -> None:
    """Apply the schema migrations (Alembic) up to the newest."""
    from echoic.storage.db import Database

    database = Database.open(_url(ctx, database_url), migrate=True)
    try:
        click.echo(f"{database.display_url}: at revision {database.revision()}")
    finally:
        database.close()


@db.command("current")
@database_url_option
@click.pass_context
@reports_errors
def db_current(ctx: click.Context, database_url: str | None) -> None:
    """Where the database is and which revision its schema is at."""
    from echoic.storage.db import Database, head_revision

    database = Database.open(_url(ctx, database_url), migrate=False)
    try:
        current = database.revision()
        state = "up to date" if current == head_revision() else f"newest is {head_revision()}"
        click.echo(f"{database.display_url}: revision {current} ({state})")
    finally:
        database.close()


def _url(ctx: click.Context, given: str | None) -> str:
    from echoic.storage.db import default_url

    settings = settings_of(ctx)
    return given or settings.database_url or default_url(settings.data_dir)
