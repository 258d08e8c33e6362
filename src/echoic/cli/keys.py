"""``echoic keys``: API keys for the server (created once, shown once, stored hashed)."""

from __future__ import annotations

import time

import click
from rich.console import Console
from rich.table import Table

from echoic.cli.app import EXIT_BAD_INPUT, cli, fail, reports_errors, settings_of
from echoic.storage.keys import SqlKeyStore
from echoic.storage.store import open_store


def _store(ctx: click.Context) -> SqlKeyStore:
    return open_store(settings_of(ctx)).keys


@cli.group()
def keys() -> None:
    """Create, list and revoke API keys."""


@keys.command("create")
@click.option("--name", default=None, help="What the key is for (shown in listings).")
@click.option(
    "--tenant",
    default=None,
    metavar="TENANT_ID",
    help="Share an existing key's tenant (tn_…: its media, jobs and transcripts); default: a "
    "new tenant of its own.",
)
@click.pass_context
@reports_errors
def keys_create(ctx: click.Context, name: str | None, tenant: str | None) -> None:
    """Create a key and print it: this is the only time it is shown."""
    store = _store(ctx)
    key, token = store.create(name, tenant)
    click.echo(
        f"created {key.id}{f' ({name})' if name else ''} in tenant {key.tenant_id}; store it "
        "now, it is not shown again:",
        err=True,
    )
    click.echo(token)


@keys.command("list")
@click.pass_context
@reports_errors
def keys_list(ctx: click.Context) -> None:
    """Every key: its id, name, tenant, and when it was created or revoked."""
    store = _store(ctx)
    table = Table(title=f"API keys in {store.db.display_url}")
    for column in ("id", "name", "tenant", "created", "status"):
        table.add_column(column)
    for key in store.list():
        status = "active" if key.active else f"revoked {_when(key.revoked_at)}"
        table.add_row(key.id, key.name or "", key.tenant_id, _when(key.created_at), status)
    Console().print(table)


@keys.command("revoke")
@click.argument("key_id")
@click.pass_context
@reports_errors
def keys_revoke(ctx: click.Context, key_id: str) -> None:
    """Revoke the key KEY_ID (ek_…): requests with it are refused from now on."""
    store = _store(ctx)
    key = store.revoke(key_id)
    if key is None:
        fail(f"no key {key_id!r}; see `echoic keys list`", EXIT_BAD_INPUT)
    click.echo(f"revoked {key.id}", err=True)


def _when(timestamp: float | None) -> str:
    return "" if timestamp is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))
