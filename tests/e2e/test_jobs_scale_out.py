"""Several echoic processes as one service, and the jobs CLI, with real processes and speech.

- two ``echoic serve`` on one PostgreSQL database and one Redis: a key created after they
  started is accepted by both, a job submitted to one is visible (and followed) from the
  other, and one key's rate limit spans both;
- ``echoic jobs submit --wait`` shows progress and prints the transcript; ``echoic
  transcripts get`` prints it in SRT, as ``GET /v1/transcripts/{id}`` gives it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import srt as srt_module

from echoic.bench.text import count_errors
from tests.e2e.test_jobs_processes import base_env, submit
from tests.process_kit import REPO, server_process
from tests.redis_kit import redis_server
from tests.speech import JFK, JFK_PATH

pytestmark = pytest.mark.slow


def echoic(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "echoic", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
        cwd=REPO,
        check=False,
    )


def test_two_servers_on_one_database_and_redis_act_as_one(
    tmp_path: Path, shared_dir: Path, postgres_url: str
) -> None:
    with redis_server(tmp_path) as redis:
        env = base_env(
            tmp_path,
            postgres_url,
            ECHOIC_AUTH="required",
            ECHOIC_RATE_LIMIT="10/minute",
            ECHOIC_RATE_LIMIT_STORAGE=redis.uri,
        )
        first_key = echoic("keys", "create", "--name", "ops", env=env)
        assert first_key.returncode == 0, first_key.stderr
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        with (
            server_process(["serve"], tmp_path / "a", env=env) as a,
            server_process(["serve", "--workers", "0"], tmp_path / "b", env=env) as b,
        ):
            created = echoic("keys", "create", "--name", "laptop", env=env)
            assert created.returncode == 0, created.stderr
            auth = {"Authorization": f"Bearer {created.stdout.strip()}"}
            # A key made after both started works on both (they read one database) …
            assert httpx.get(f"{a.api}/jobs", headers=auth).status_code == 200
            assert httpx.get(f"{b.api}/jobs", headers=auth).status_code == 200
            assert httpx.get(f"{b.api}/jobs").status_code == 401
            # … a job submitted to B (no worker of its own) is run by A's worker, and B sees it.
            with (shared_dir / JFK_PATH).open("rb") as f:
                submitted = httpx.post(
                    f"{b.api}/jobs", files={"file": ("jfk.wav", f)}, headers=auth, timeout=60
                )
            assert submitted.status_code == 202, submitted.text
            job_id = submitted.json()["id"]
            # Follow it from B: one event stream, until A's worker has completed it.
            with httpx.stream(
                "GET", f"{b.api}/jobs/{job_id}/events", headers=auth, timeout=120
            ) as stream:
                names = [
                    line.removeprefix("event: ")
                    for line in stream.iter_lines()
                    if line.startswith("event: ")
                ]
            assert names[0] == "queued"
            assert names[-1] == "completed", names
            done = httpx.get(f"{b.api}/jobs/{job_id}", headers=auth).json()
            assert done["worker_id"].endswith(":0")  # A's in-process worker
            text = httpx.get(
                f"{a.api}/transcripts/{done['transcript_id']}",
                params={"response_format": "text"},
                headers=auth,
            ).text
            assert count_errors(JFK, text).errors <= 2, text
            # One budget across both: 10 per minute, and 6 were spent above.
            statuses = [
                httpx.get(f"{server.api}/jobs", headers=auth).status_code
                for server in (a, b, a, b, a)
            ]
            assert statuses == [200, 200, 200, 200, 429], statuses
            limited = httpx.get(f"{a.api}/jobs", headers=auth)
            assert limited.status_code == 429
            assert int(limited.headers["retry-after"]) >= 1


def test_the_jobs_cli_submits_waits_and_fetches(tmp_path: Path, shared_dir: Path) -> None:
    env = base_env(tmp_path, None)
    with server_process(["serve"], tmp_path, env=env) as server:
        client_env = {**env, "ECHOIC_SERVER_URL": server.url}
        waited = echoic("jobs", "submit", str(shared_dir / JFK_PATH), "--wait", env=client_env)
        assert waited.returncode == 0, waited.stderr
        assert count_errors(JFK, waited.stdout).errors <= 2, waited.stdout
        job_id = waited.stderr.strip().splitlines()[0]
        assert job_id.startswith("job_")
        shown = httpx.get(f"{server.api}/jobs/{job_id}").json()
        assert shown["status"] == "completed"
        # Progress came as events while it ran.
        events = httpx.get(f"{server.api}/jobs/{job_id}/events").text
        assert "event: started" in events
        assert "event: completed" in events

        srt = echoic(
            "transcripts", "get", shown["transcript_id"], "--format", "srt", env=client_env
        )
        assert srt.returncode == 0, srt.stderr
        direct = httpx.get(
            f"{server.api}/transcripts/{shown['transcript_id']}",
            params={"response_format": "srt"},
        ).text
        assert srt.stdout.strip() == direct.strip()
        cues = list(srt_module.parse(srt.stdout))
        assert count_errors(JFK, " ".join(c.content for c in cues)).errors <= 2

        listed = echoic("jobs", "list", env=client_env)
        assert listed.returncode == 0
        assert job_id in listed.stdout
        unknown = echoic("jobs", "show", "job_nope", env=client_env)
        assert unknown.returncode == 2
        assert "No job 'job_nope'" in unknown.stderr
        not_audio = tmp_path / "notes.wav"
        not_audio.write_text("hello")
        refused = echoic("jobs", "submit", str(not_audio), env=client_env)
        assert refused.returncode == 2
        assert "not_audio" in refused.stderr
        queued = submit(server, shared_dir / JFK_PATH)
        cancelled = echoic("jobs", "cancel", queued["id"], env=client_env)
        assert cancelled.returncode == 0
    gone = echoic("jobs", "list", env={**env, "ECHOIC_SERVER_URL": server.url})
    assert gone.returncode == 1
    assert "cannot reach the server" in gone.stderr
