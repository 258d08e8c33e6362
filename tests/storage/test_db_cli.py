"""``echoic db``: migrate and report, on SQLite and PostgreSQL; a database it cannot reach is a
one-line error, not a traceback."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from echoic.cli import cli
from echoic.storage.db import head_revision


def test_upgrade_then_current(tmp_path: Path, database_url: str) -> None:
    runner = CliRunner()
    env = {"ECHOIC_DATA_DIR": str(tmp_path), "ECHOIC_DATABASE_URL": database_url}
    upgraded = runner.invoke(cli, ["db", "upgrade"], env=env)
    assert upgraded.exit_code == 0, upgraded.output
    assert f"at revision {head_revision()}" in upgraded.stdout
    current = runner.invoke(cli, ["db", "current"], env=env)
    assert current.exit_code == 0, current.output
    assert "up to date" in current.stdout
    assert "secret" not in current.stdout


def test_an_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    runner = CliRunner()
    url = "postgresql://echoic:secret@127.0.0.1:9/echoic"
    result = runner.invoke(cli, ["db", "upgrade", "--database-url", url])
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: cannot use the database postgresql+psycopg://echoic:***@"
    )
    assert "secret" not in result.stderr
    bad = runner.invoke(cli, ["db", "upgrade", "--database-url", "mysql://x/y"])
    assert bad.exit_code == 1
    assert "unsupported database" in bad.stderr
