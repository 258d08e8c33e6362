"""``echoic db``: the database's schema (migrations also run when a server or worker starts)."""

from __future__ import annotations

import click

from echoic.cli.app import cli, reports_errors, settings_of


@cli.group()
def db() -> None:
    """The database: migrate it, say where it is."""


@db.command("upgrade")
@click.option("--database-url", default=None, metavar="URL", help="Default: the settings'.")
@click.pass_context
@reports_errors
def db_upgrade(ctx: click.Context, database_url: str | None) -> None:
    """Apply the schema migrations (Alembic) up to the newest."""
    from echoic.storage.db import Database, default_url

    settings = settings_of(ctx)
    url = database_url or settings.database_url or default_url(settings.data_dir)
    database = Database.open(url, migrate=True)
    try:
        click.echo(f"{database.display_url}: at revision {database.revision()}")
    finally:
        database.close()


@db.command("current")
@click.option("--database-url", default=None, metavar="URL", help="Default: the settings'.")
@click.pass_context
@reports_errors
def db_current(ctx: click.Context, database_url: str | None) -> None:
    """Where the database is and which revision its schema is at."""
    from echoic.storage.db import Database, default_url, head_revision

    settings = settings_of(ctx)
    url = database_url or settings.database_url or default_url(settings.data_dir)
    database = Database.open(url, migrate=False)
    try:
        current = database.revision()
        state = "up to date" if current == head_revision() else f"newest is {head_revision()}"
        click.echo(f"{database.display_url}: revision {current} ({state})")
    finally:
        database.close()
