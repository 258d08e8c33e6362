"""``echoic bench stream-server`` for real: its own ``echoic serve`` (tiny.en), one dev session
streamed in real time through ``/v1/listen`` and ``/v1/realtime``, the report checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SESSION = "eval/dev/sessions/session_02.wav"  # 34 s, 7 utterances


def test_both_endpoints_measured_on_one_session(shared_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "stream-server.json"
    done = subprocess.run(
        [
            sys.executable, "-m", "echoic", "bench", "stream-server",
            "--sessions", str(shared_dir / SESSION), "-m", "tiny.en",
            "--via", "listen,realtime", "-o", str(out),
        ],
        capture_output=True,
        text=True,
        timeout=400,
        env={**os.environ, "ECHOIC_DATA_DIR": str(tmp_path)},
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "/v1/listen" in done.stdout
    assert "/v1/realtime" in done.stdout
    report = json.loads(out.read_text())
    assert report["kind"] == "stream-server"
    assert set(report["endpoints"]) == {"/v1/listen", "/v1/realtime"}
    for endpoint, result in report["endpoints"].items():
        summary = result["summary"]
        assert summary["utterances"] == 7, endpoint
        matches = summary["matches"]
        assert matches["one_final"] + matches["several_finals"] > 0, endpoint
        for metric in ("first_draft_s", "final_s"):
            spread = summary["latency_s"][metric]
            assert spread["n"] > 0, (endpoint, metric)
            assert 0 < spread["p50"] <= spread["p95"] <= spread["max"] < 10, (endpoint, metric)
        assert summary["wer"]["streaming"]["wer"] < 0.2, endpoint
    assert out.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
