"""``echoic keys``, and ``echoic serve``'s refusals to start unprotected or misconfigured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from echoic.cli import cli
from echoic.settings import Settings
from echoic.storage.store import open_store


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"ECHOIC_DATA_DIR": str(tmp_path)}
    created = runner.invoke(cli, ["keys", "create", "--name", "ci"], env=env)
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("ek_")
    store = open_store(Settings(data_dir=tmp_path)).keys
    key = store.verify(token)
    assert key is not None
    assert key.name == "ci"
    assert "not shown again" in created.stderr

    listed = runner.invoke(cli, ["keys", "list"], env=env)
    assert listed.exit_code == 0
    assert key.id in listed.stdout
    assert "active" in listed.stdout
    assert token not in listed.stdout

    revoked = runner.invoke(cli, ["keys", "revoke", key.id], env=env)
    assert revoked.exit_code == 0
    assert store.verify(token) is None
    assert "revoked" in runner.invoke(cli, ["keys", "list"], env=env).stdout

    unknown = runner.invoke(cli, ["keys", "revoke", "ek_00000000"], env=env)
    assert unknown.exit_code == 2
    assert "no key" in unknown.stderr


def test_serve_on_a_public_address_without_keys_refuses_to_start(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "echoic", "serve", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ECHOIC_DATA_DIR": str(tmp_path)},
        check=False,
    )
    assert done.returncode != 0
    assert "error:" in done.stderr
    assert "echoic keys create" in done.stderr
    assert "Uvicorn running" not in done.stderr


def test_serve_with_a_budget_it_cannot_read_says_so_and_exits(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "echoic", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "ECHOIC_DATA_DIR": str(tmp_path),
            "ECHOIC_ROUTE_TIMEOUT_S": "local=2,gpu=1",
        },
        check=False,
    )
    assert done.returncode == 1
    assert "error: unknown tier 'gpu' in ECHOIC_ROUTE_TIMEOUT_S" in done.stderr
    assert "Traceback" not in done.stderr
    assert "Uvicorn running" not in done.stderr
