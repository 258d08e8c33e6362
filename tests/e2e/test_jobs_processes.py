"""Jobs through crashes, with real processes, the real model and real speech (issue: jobs
complete exactly once through worker crashes and server restarts).

- a worker killed with SIGKILL in the middle of a long job: once its lease expires, another
  worker completes the job; exactly one transcript version exists; the audit shows both leases;
- two worker processes on one PostgreSQL database and 20 jobs: each completes exactly once;
- a server stopped (gracefully, then with SIGKILL) while jobs are queued and running loses none.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from echoic.settings import Settings
from echoic.storage.audit import events
from echoic.storage.records import LOCAL_TENANT
from echoic.storage.store import open_store
from tests.process_kit import REPO, ServerProcess, start_server
from tests.speech import JFK_PATH

pytestmark = pytest.mark.slow

LONGFORM = "eval/dev/longform/ljspeech_LJ001_chapter.wav"
LEASE_S = 3.0  # short, so a dead worker's job comes back within seconds


def base_env(data_dir: Path, database_url: str | None, **extra: str) -> dict[str, str]:
    env = {
        "ECHOIC_DATA_DIR": str(data_dir),
        "ECHOIC_MODELS_DIR": str(Settings().models_dir),
        "ECHOIC_LEASE_S": str(LEASE_S),
        "ECHOIC_LOG_FORMAT": "json",
        "ECHOIC_RATE_LIMIT": "",
        **extra,
    }
    if database_url:
        env["ECHOIC_DATABASE_URL"] = database_url
    return env


@contextmanager
def worker_process(
    name: str, env: Mapping[str, str], log_dir: Path
) -> Iterator[subprocess.Popen[bytes]]:
    log = log_dir / f"worker-{name}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "echoic", "worker", "--worker-id", name],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            cwd=REPO,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def submit(server: ServerProcess, path: Path, **fields: str) -> dict[str, Any]:
    with path.open("rb") as f:
        response = httpx.post(
            f"{server.api}/jobs", files={"file": (path.name, f)}, data=fields, timeout=60
        )
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    return job


def job_of(server: ServerProcess, job_id: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{server.api}/jobs/{job_id}", timeout=30).json()
    return body


def wait_until(check: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)


def audit_trail(data_dir: Path, database_url: str | None, job_id: str) -> list[Any]:
    store = open_store(Settings(data_dir=data_dir, database_url=database_url))
    try:
        with store.db.read() as conn:
            return events(conn, job_id=job_id)
    finally:
        store.close()


def test_a_killed_workers_job_is_finished_by_another(
    tmp_path: Path, shared_dir: Path, postgres_url: str
) -> None:
    # Sequential decoding: progress segment by segment, so A is caught in the middle (the
    # batched pipeline decodes a long file's chunks together and reports only at the end).
    env = base_env(tmp_path, postgres_url, ECHOIC_BATCHED_THRESHOLD_S="100000")
    server = start_server(["serve", "--workers", "0"], tmp_path, env=env)
    try:
        job = submit(server, shared_dir / LONGFORM)
        with worker_process("A", env, tmp_path) as first:
            # Wait until A has done some of the work, then kill it without a chance to say so.
            wait_until(
                lambda: job_of(server, job["id"])["progress"]["audio_done_s"] > 0,
                120,
                "worker A to report progress",
            )
            running = job_of(server, job["id"])
            assert running["status"] == "running"
            assert running["worker_id"] == "A"
            first.send_signal(signal.SIGKILL)
            first.wait()
        with worker_process("B", env, tmp_path):
            done = wait_until(
                lambda: (j := job_of(server, job["id"]))["status"] in ("completed", "failed") and j,
                180,
                "worker B to finish the job",
            )
        assert done["status"] == "completed", done
        assert done["worker_id"] == "B"
        assert done["attempts"] == 2
        versions = httpx.get(f"{server.api}/transcripts/{done['transcript_id']}/versions").json()
        assert [v["version"] for v in versions["data"]] == [1]
        assert versions["data"][0]["actor"] == "B"
        text = httpx.get(
            f"{server.api}/transcripts/{done['transcript_id']}",
            params={"response_format": "text"},
        ).text
        assert "printing" in text.lower()
    finally:
        server.stop()
    trail = audit_trail(tmp_path, postgres_url, job["id"])
    leases = [(e.actor, e.detail["lease_id"]) for e in trail if e.event == "leased"]
    assert [actor for actor, _ in leases] == ["A", "B"]
    assert leases[0][1] != leases[1][1]
    expired = [e for e in trail if e.event == "lease_expired"]
    assert [e.detail["lease_id"] for e in expired] == [leases[0][1]]
    completed = [e for e in trail if e.event == "completed"]
    assert [e.detail["lease_id"] for e in completed] == [leases[1][1]]


def test_two_workers_complete_twenty_jobs_exactly_once(
    tmp_path: Path, shared_dir: Path, postgres_url: str
) -> None:
    manifest = [
        json.loads(line)
        for line in (shared_dir / "eval/dev/manifest.jsonl").read_text().splitlines()
    ]
    clips = sorted(manifest, key=lambda u: u["duration_s"])[:20]
    env = base_env(tmp_path, postgres_url)
    # Two model copies on two cores: one thread and one call at a time each (DESIGN.md §10).
    one_core = {**env, "ECHOIC_CPU_THREADS": "1", "ECHOIC_WORKERS": "1"}
    server = start_server(["serve", "--workers", "0"], tmp_path, env=env)
    try:
        jobs = [submit(server, shared_dir / "eval/dev" / clip["audio"]) for clip in clips]
        with worker_process("W1", one_core, tmp_path), worker_process("W2", one_core, tmp_path):
            finished = wait_until(
                lambda: all(
                    job_of(server, j["id"])["status"] in ("completed", "failed") for j in jobs
                ),
                300,
                "20 jobs to finish",
            )
        assert finished
        results = [job_of(server, j["id"]) for j in jobs]
    finally:
        server.stop()
    assert [r["status"] for r in results] == ["completed"] * 20
    store = open_store(Settings(data_dir=tmp_path, database_url=postgres_url))
    try:
        with store.db.read() as conn:
            trail = events(conn)
        for result in results:
            versions = store.transcripts.versions(LOCAL_TENANT, result["transcript_id"])
            assert len(versions) == 1
    finally:
        store.close()
    completions = Counter(e.job_id for e in trail if e.event == "completed")
    assert completions == Counter({j["id"]: 1 for j in jobs})
    assert not [e for e in trail if e.event in ("refused", "lease_expired")]
    by_worker = Counter(r["worker_id"] for r in results)
    print(f"jobs per worker: {dict(by_worker)}")


def test_a_server_restart_loses_no_job(tmp_path: Path, shared_dir: Path) -> None:
    # The embedded default: SQLite and an in-process worker. base, decoding sequentially, so that
    # the long job runs long enough (≈ 40 s) to be caught in the middle, twice, and reports
    # progress (and notices a stop) segment by segment: the batched pipeline of long files
    # decodes all its chunks at once, and would be done by the time it first reports.
    env = base_env(tmp_path, None, ECHOIC_MODEL="base", ECHOIC_BATCHED_THRESHOLD_S="100000")
    long_path, short_path = shared_dir / LONGFORM, shared_dir / JFK_PATH
    servers: list[ServerProcess] = []

    def start() -> ServerProcess:
        servers.append(start_server(["serve"], tmp_path, env=env))
        return servers[-1]

    def running_long(server: ServerProcess) -> bool:
        job = job_of(server, long_job["id"])
        assert job["status"] in ("queued", "running"), job  # too fast to catch: make it longer
        return bool(job["status"] == "running" and job["progress"]["audio_done_s"] > 0)

    try:
        server = start()
        long_job = submit(server, long_path)
        short_jobs = [submit(server, short_path) for _ in range(3)]
        wait_until(lambda: running_long(server), 120, "the long job to make progress")
        # A graceful stop releases the running job at its next chunk …
        assert server.stop() == 0
        trail = audit_trail(tmp_path, None, long_job["id"])
        assert trail[-1].event == "released", [e.event for e in trail]

        # … and after a restart it runs again; this time the server is killed outright.
        server = start()
        wait_until(lambda: running_long(server), 120, "the long job to make progress again")
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()

        server = start()
        all_jobs = [long_job, *short_jobs]
        wait_until(
            lambda: all(job_of(server, j["id"])["status"] == "completed" for j in all_jobs),
            300,
            "every job to complete after the restarts",
        )
        for job in all_jobs:
            done = job_of(server, job["id"])
            versions = httpx.get(f"{server.api}/transcripts/{done['transcript_id']}/versions")
            assert len(versions.json()["data"]) == 1
        jfk = httpx.get(
            f"{server.api}/transcripts/{job_of(server, short_jobs[0]['id'])['transcript_id']}",
            params={"response_format": "text"},
        ).text
        assert "ask not what your country can do for you" in jfk.lower()
        assert server.stop() == 0
    finally:
        for leftover in servers:
            if leftover.process.poll() is None:
                leftover.process.kill()
                leftover.process.wait()
    trail = audit_trail(tmp_path, None, long_job["id"])
    names = [e.event for e in trail]
    assert names.count("completed") == 1
    assert "released" in names
    assert "lease_expired" in names
