"""Diarization in jobs, on SQLite and PostgreSQL: the options checked at submission (400, no
job), kept with the job, applied by the in-process worker, and the diarized transcript read back
whole, across versions; a worker that does not diarize fails such a job with the reason."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from echoic.diarize.scripted import ScriptedDiarizer
from echoic.diarize.types import SpeakerCount
from echoic.engines.base import Engine
from echoic.engines.scripted import ScriptedEngine
from echoic.jobs.worker import Worker, WorkerConfig
from echoic.server import create_app
from echoic.storage.keys import MemoryKeyStore
from echoic.storage.records import JobStatus, Submission
from echoic.storage.store import Store
from tests.server_kit import SAID, assert_error, server_settings, serving, tone_wav
from tests.storage.conftest import LEASE_S, NOW, TENANT

Body = dict[str, Any]


@contextmanager
def diarizing_jobs(
    tmp_path: Path, database_url: str, diarizer: ScriptedDiarizer, **changes: Any
) -> Iterator[TestClient]:
    settings = server_settings(
        tmp_path,
        database_url=database_url,
        job_retry_base_s=0.0,
        models_dir=tmp_path / "models",
        **changes,
    )
    engines = {"tiny.en": ScriptedEngine.saying(SAID)}
    app = create_app(settings, engines, MemoryKeyStore(), diarizer=diarizer)
    with serving(app) as client:
        yield client


def submit(client: TestClient, fields: dict[str, Any]) -> Body:
    response = client.post("/v1/jobs", files={"file": ("tone.wav", tone_wav(2.0))}, data=fields)
    assert response.status_code == 202, response.text
    job: Body = response.json()
    return job


def wait_for(client: TestClient, job_id: str, timeout_s: float = 20.0) -> Body:
    deadline = time.monotonic() + timeout_s
    while True:
        job: Body = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("completed", "failed", "cancelled"):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job still {job['status']} after {timeout_s} s: {job}")
        time.sleep(0.05)


def test_a_diarized_job_keeps_its_speakers_and_a_rerun_may_drop_them(
    tmp_path: Path, database_url: str
) -> None:
    diarizer = ScriptedDiarizer.alternating(1, every_s=60.0)
    with diarizing_jobs(tmp_path, database_url, diarizer) as client:
        job = submit(client, {"diarization": "true", "min_speakers": "1", "max_speakers": "4"})
        assert job["options"] == {
            "model": "tiny.en",
            "task": "transcribe",
            "word_timestamps": False,
            "diarization": True,
            "min_speakers": 1,
            "max_speakers": 4,
        }
        done = wait_for(client, job["id"])
        assert done["status"] == "completed", done
        transcript_id = done["transcript_id"]
        url = f"/v1/transcripts/{transcript_id}"
        first = client.get(url, params={"response_format": "verbose_json"}).json()
        srt_body = client.get(url, params={"response_format": "srt"}).text

        rerun = client.post("/v1/jobs", json={"transcript_id": transcript_id})
        assert rerun.status_code == 202, rerun.text
        assert wait_for(client, rerun.json()["id"])["status"] == "completed"
        second = client.get(url, params={"response_format": "verbose_json"}).json()
        again = client.get(url, params={"response_format": "verbose_json", "version": 1}).json()

    assert [c.count for c in diarizer.calls] == [SpeakerCount(min_speakers=1, max_speakers=4)]
    assert first["diarization"] == {"enabled": True, "speakers": 1}
    assert [s["speaker"] for s in first["segments"]] == ["SPEAKER_00"]
    assert "words" not in first  # one speaker: nothing to split, no word timings decoded
    assert f"[SPEAKER_00] {SAID}" in srt_body
    assert second["diarization"] == {"enabled": False, "speakers": None}
    assert second["segments"][0]["speaker"] is None
    assert again["diarization"] == first["diarization"]
    assert again["segments"] == first["segments"]


def test_a_json_submission_may_ask_for_diarization(tmp_path: Path, database_url: str) -> None:
    diarizer = ScriptedDiarizer.alternating(1, every_s=60.0)
    with diarizing_jobs(tmp_path, database_url, diarizer) as client:
        transcript_id = wait_for(client, submit(client, {})["id"])["transcript_id"]
        rerun = client.post(
            "/v1/jobs",
            json={"transcript_id": transcript_id, "diarization": True, "num_speakers": 1},
        )
        assert rerun.status_code == 202, rerun.text
        assert rerun.json()["options"]["num_speakers"] == 1
        assert wait_for(client, rerun.json()["id"])["status"] == "completed"
        body = client.get(
            f"/v1/transcripts/{transcript_id}", params={"response_format": "diarized_json"}
        ).json()
    assert [c.count for c in diarizer.calls] == [SpeakerCount(num_speakers=1)]
    assert [s["speaker"] for s in body["segments"]] == ["SPEAKER_00"]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"diarization": "true", "num_speakers": "0"}, "num_speakers"),
        ({"diarization": "true", "min_speakers": "3", "max_speakers": "2"}, "max_speakers"),
        ({"diarization": "true", "num_speakers": "many"}, "num_speakers"),
        ({"num_speakers": "2"}, "num_speakers"),
    ],
)
def test_bad_speaker_options_are_refused_before_a_job_exists(
    tmp_path: Path, database_url: str, fields: dict[str, str], param: str
) -> None:
    diarizer = ScriptedDiarizer()
    with diarizing_jobs(tmp_path, database_url, diarizer) as client:
        response = client.post("/v1/jobs", files={"file": ("tone.wav", tone_wav(2.0))}, data=fields)
        assert_error(response, 400, "invalid_value", param=param)
        assert client.get("/v1/jobs").json()["data"] == []


def test_a_server_with_diarization_off_refuses_diarized_jobs(
    tmp_path: Path, database_url: str
) -> None:
    with diarizing_jobs(
        tmp_path, database_url, ScriptedDiarizer(), diarization_enabled=False
    ) as client:
        response = client.post(
            "/v1/jobs", files={"file": ("tone.wav", tone_wav())}, data={"diarization": "true"}
        )
        error = assert_error(response, 400, "invalid_value", param="diarization")
        assert "turned off" in error["message"]
        assert client.get("/v1/jobs").json()["data"] == []


def test_a_worker_that_does_not_diarize_fails_a_diarized_job_with_the_reason(
    store: Store,
) -> None:
    # An ``echoic worker`` with ECHOIC_DIARIZATION_ENABLED=false, sharing the database with a
    # server that accepted the job.
    engine = ScriptedEngine.saying(SAID)

    async def engine_for(model: str | None) -> Engine:
        return engine

    submission = Submission(
        tenant_id=TENANT, options={"diarization": True, "num_speakers": 2}, now=NOW
    )
    store.submit_upload(submission, io.BytesIO(tone_wav()), filename="tone.wav")
    claimed = store.leases.claim("w1", now=NOW, lease_s=LEASE_S)
    assert claimed is not None
    worker = Worker(store, engine_for, WorkerConfig(worker_id="w1"), clock=lambda: NOW)

    asyncio.run(worker.run_job(*claimed, stop=asyncio.Event()))

    job = store.jobs.get(TENANT, claimed[0].id)
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert job.error.code == "invalid_value"
    assert "does not diarize" in job.error.message
    assert engine.calls == []  # refused before any decode
