"""``echoic keys``: API keys for the server (created once, shown once, stored hashed)."""

from __future__ import annotations

import time

import click
from rich.console import Console
from rich.table import Table

from echoic.cli.app import EXIT_BAD_INPUT, cli, fail, settings_of
from echoic.storage.keys import default_key_store


@cli.group()
def keys() -> None:
    """Create, list and revoke API keys."""


@keys.command("create")
@click.option("--name", default=None, help="What the key is for (shown in listings).")
@click.pass_context
def keys_create(ctx: click.Context, name: str | None) -> None:
    """Create a key and print it: this is the only time it is shown."""
    store = default_key_store(settings_of(ctx).data_dir)
    key, token = store.create(name)
    click.echo(
        f"created {key.id}{f' ({name})' if name else ''}; store it now, it is not shown again:",
        err=True,
    )
    click.echo(token)


@keys.command("list")
@click.pass_context
def keys_list(ctx: click.Context) -> None:
    """Every key: its id, name, and when it was created or revoked."""
    store = default_key_store(settings_of(ctx).data_dir)
    table = Table(title=f"API keys in {store.path}")
    for column in ("id", "name", "created", "status"):
        table.add_column(column)
    for key in store.list():
        status = "active" if key.active else f"revoked {_when(key.revoked_at)}"
        table.add_row(key.id, key.name or "", _when(key.created_at), status)
    Console().print(table)


@keys.command("revoke")
@click.argument("key_id")
@click.pass_context
def keys_revoke(ctx: click.Context, key_id: str) -> None:
    """Revoke the key KEY_ID (ek_…): requests with it are refused from now on."""
    store = default_key_store(settings_of(ctx).data_dir)
    key = store.revoke(key_id)
    if key is None:
        fail(f"no key {key_id!r}; see `echoic keys list`", EXIT_BAD_INPUT)
    click.echo(f"revoked {key.id}", err=True)


def _when(timestamp: float | None) -> str:
    return "" if timestamp is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))
