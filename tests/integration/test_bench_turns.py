"""``echoic bench turns`` on real speech: the pauses of a dev session, decoded by tiny.en."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from echoic.cli import cli


def test_the_pauses_of_a_dev_session(eval_dir: Path, tmp_path: Path) -> None:
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    for suffix in (".wav", ".json"):  # session_02: LJSpeech, 7 utterances, −50 dBFS noise bed
        (sessions / f"session_02{suffix}").symlink_to(eval_dir / "sessions" / f"session_02{suffix}")
    out = tmp_path / "turns.json"
    args = ["bench", "turns", "--sessions", f"dev={sessions}", "-o", str(out)]
    result = CliRunner().invoke(cli, [*args, "--policy", "450/450/450", "--policy", "300/450/1200"])
    assert result.exit_code == 0, result.output

    report = json.loads(out.read_text())
    pauses = report["pauses"]["dev"]
    ends = [p for p in pauses if not p["inside"]]
    # Every gap between the 7 utterances is a pause after one (the last one ends the file).
    assert len(ends) == 6
    assert all(p["duration_s"] >= 0.5 for p in ends)  # the gaps are 0.6-1.5 s of silence
    # The speculative final's words at the end of a sentence: a period, mostly.
    assert sum(p["cue"] == "sentence_end" for p in ends) >= 4
    assert all(p["text"] for p in pauses)
    silence_alone, words = report["scores"]["dev"]
    assert silence_alone["policy"] == "450/450/450"
    assert silence_alone["merges"] == 0
    assert words["wait_p50_ms"] == 300  # most utterances end on a sentence

    again = CliRunner().invoke(cli, ["bench", "turns", "--from-report", str(out), "-o", str(out)])
    assert again.exit_code == 0, again.output
    assert json.loads(out.read_text())["pauses"] == report["pauses"]  # re-scored, not re-decoded
