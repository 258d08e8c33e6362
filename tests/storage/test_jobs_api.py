"""The jobs and transcripts API through the app, with its in-process worker, on SQLite and
PostgreSQL: submit, watch, fetch, edit, re-run, delete, cancel, fail, isolate tenants."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from echoic.engines.base import Engine
from echoic.engines.scripted import ScriptedEngine, Step
from echoic.errors import EngineError, NotAudioError
from echoic.server import create_app
from echoic.settings import Settings
from echoic.storage.audit import events
from echoic.storage.keys import KeyStore
from echoic.storage.store import open_store
from tests.server_kit import SAID, assert_error, metric, server_settings, serving, tone_wav

Body = dict[str, Any]
SELF_TEST = Step(text="")  # the server's startup self-test takes a scripted engine's first step


@contextmanager
def jobs_server(
    tmp_path: Path,
    database_url: str,
    engines: Mapping[str, Engine] | None = None,
    keys: KeyStore | None = None,
    **changes: Any,
) -> Iterator[TestClient]:
    settings = server_settings(tmp_path, database_url=database_url, job_retry_base_s=0.0, **changes)
    app = create_app(settings, engines or {"tiny.en": ScriptedEngine.saying(SAID)}, keys)
    with serving(app) as client:
        yield client


def submit(client: TestClient, fields: dict[str, Any] | None = None) -> Body:
    response = client.post(
        "/v1/jobs", files={"file": ("tone.wav", tone_wav(2.0))}, data=fields or {}
    )
    assert response.status_code == 202, response.text
    job: Body = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
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


def sse_events(text: str) -> list[tuple[int, str, Body]]:
    found = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        found.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return found


def test_a_file_job_completes_and_its_transcript_is_kept(tmp_path: Path, database_url: str) -> None:
    with jobs_server(tmp_path, database_url) as client:
        job = submit(client, {"priority": "3", "timestamp_granularities[]": "word"})
        assert job["status"] in ("queued", "running", "completed")
        assert job["priority"] == 3
        assert job["media"]["source"] == "upload"
        assert job["media"]["filename"] == "tone.wav"
        assert job["media"]["duration_s"] == pytest.approx(2.0)
        done = wait_for(client, job["id"])
        assert done["status"] == "completed", done
        assert done["progress"]["percent"] == 100.0
        assert done["attempts"] == 1
        transcript_id = done["transcript_id"]

        as_json = client.get(f"/v1/transcripts/{transcript_id}")
        assert as_json.json()["text"] == SAID
        assert as_json.headers["x-echoic-transcript-version"] == "1"
        text = client.get(f"/v1/transcripts/{transcript_id}", params={"response_format": "text"})
        assert text.text.strip() == SAID
        srt = client.get(f"/v1/transcripts/{transcript_id}", params={"response_format": "srt"})
        assert srt.text.startswith("1\n00:00:00,000 --> 00:00:02,000\n" + SAID)
        vtt = client.get(f"/v1/transcripts/{transcript_id}", params={"response_format": "vtt"})
        assert vtt.text.startswith("WEBVTT")
        verbose = client.get(
            f"/v1/transcripts/{transcript_id}", params={"response_format": "verbose_json"}
        ).json()
        assert verbose["duration"] == pytest.approx(2.0)
        assert [w["word"] for w in verbose["words"]] == SAID.split()

        versions = client.get(f"/v1/transcripts/{transcript_id}/versions").json()["data"]
        assert [(v["version"], v["reason"], v["model"]) for v in versions] == [
            (1, "transcription", "scripted")
        ]
        assert versions[0]["options"]["word_timestamps"] is True
        chunks = client.get(f"/v1/transcripts/{transcript_id}/chunks").json()
        assert chunks["version"] == 1
        assert chunks["data"] == [
            {"index": 0, "start": 0.0, "end": 2.0, "text": SAID, "segment_ids": [0]}
        ]
        listed = client.get("/v1/transcripts").json()["data"]
        assert [t["id"] for t in listed] == [transcript_id]


def test_progress_events_stream_and_resume(tmp_path: Path, database_url: str) -> None:
    with jobs_server(tmp_path, database_url) as client:
        job = submit(client)
        wait_for(client, job["id"])
        stream = client.get(f"/v1/jobs/{job['id']}/events")
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        seen = sse_events(stream.text)
        names = [name for _, name, _ in seen]
        assert names[0] == "queued"
        assert names[1] == "started"
        assert names[-1] == "completed"  # progress events: the real-model test in e2e
        ids = [event_id for event_id, _, _ in seen]
        assert ids == sorted(ids)
        assert seen[-1][2]["transcript_id"] == wait_for(client, job["id"])["transcript_id"]
        # Resuming after the first event replays the rest, and only the rest.
        resumed = client.get(f"/v1/jobs/{job['id']}/events", headers={"Last-Event-ID": str(ids[0])})
        assert [e[0] for e in sse_events(resumed.text)] == ids[1:]


def test_a_queued_job_is_cancelled_and_never_runs(tmp_path: Path, database_url: str) -> None:
    engine = ScriptedEngine.saying(SAID)
    with jobs_server(tmp_path, database_url, {"tiny.en": engine}, workers_in_process=0) as client:
        job = submit(client)
        cancelled = client.delete(f"/v1/jobs/{job['id']}")
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        assert client.get(f"/v1/jobs/{job['id']}").json()["transcript_id"] is None
        assert (
            client.get("/v1/jobs", params={"status": "cancelled"}).json()["data"][0]["id"]
            == (job["id"])
        )
        events_text = client.get(f"/v1/jobs/{job['id']}/events").text
        assert [name for _, name, _ in sse_events(events_text)] == ["queued", "cancelled"]
    # The startup self-test (1 s) ran; the job's 2 s of audio never did.
    assert [c.duration_s for c in engine.calls] == [1.0]


def test_a_running_job_stops_when_cancelled(tmp_path: Path, database_url: str) -> None:
    engine = ScriptedEngine([Step(text=SAID, delay_s=1.5)])
    with jobs_server(tmp_path, database_url, {"tiny.en": engine}) as client:
        job = submit(client)
        deadline = time.monotonic() + 10
        while client.get(f"/v1/jobs/{job['id']}").json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert client.delete(f"/v1/jobs/{job['id']}").json()["status"] == "cancelled"
        time.sleep(2.0)  # the engine finishes its call; its result must not be stored
        final = client.get(f"/v1/jobs/{job['id']}").json()
        assert final["status"] == "cancelled"
        assert final["transcript_id"] is None
        assert client.get("/v1/transcripts").json()["data"] == []


def test_failures_are_reported_with_their_reason(tmp_path: Path, database_url: str) -> None:
    engines = {
        "tiny.en": ScriptedEngine([SELF_TEST, Step(error=EngineError("the engine broke"))]),
    }
    with jobs_server(
        tmp_path, database_url, engines, job_max_attempts=2, route_retries=0
    ) as client:
        job = wait_for(client, submit(client)["id"])
        assert job["status"] == "failed"
        assert job["dead_letter"] is True
        assert job["attempts"] == 2
        assert job["error"]["code"] in ("engine_error", "provider_unavailable")
        assert "the engine broke" in json.dumps(job["error"]) or job["error"]["message"]
        names = [n for _, n, _ in sse_events(client.get(f"/v1/jobs/{job['id']}/events").text)]
        assert names == ["queued", "started", "retrying", "started", "failed"]


def test_an_error_of_the_job_itself_fails_at_once(tmp_path: Path, database_url: str) -> None:
    engines = {
        "tiny.en": ScriptedEngine([SELF_TEST, Step(error=NotAudioError("not audio after all"))])
    }
    with jobs_server(tmp_path, database_url, engines, job_max_attempts=5) as client:
        job = wait_for(client, submit(client)["id"])
        assert job["status"] == "failed"
        assert job["dead_letter"] is False
        assert job["attempts"] == 1
        assert job["error"] == {
            "code": "not_audio",
            "message": "not audio after all",
            "retryable": False,
        }


@pytest.mark.parametrize(
    ("files", "data", "json_body", "status", "code"),
    [
        ({"file": ("notes.wav", b"hello, not audio")}, {}, None, 415, "not_audio"),
        (None, {}, {}, 400, "invalid_value"),
        (
            {"file": ("tone.wav", tone_wav(0.5))},
            {"url": "https://example.org/a.mp3"},
            None,
            400,
            "invalid_value",
        ),
        (None, {}, {"url": "http://127.0.0.1:9/a.wav"}, 400, "url_not_allowed"),
        (None, {}, {"url": "http://169.254.169.254/latest"}, 400, "url_not_allowed"),
        (None, {}, {"url": "file:///etc/passwd"}, 400, "url_not_allowed"),
        (None, {}, {"url": "https://example.org/a.mp3", "priority": 1000}, 400, None),
        (None, {}, {"url": "https://example.org/a.mp3", "colour": "red"}, 400, None),
        (None, {}, {"url": "https://example.org/a.mp3", "model": "nope"}, 404, "model_not_found"),
        (None, {}, {"transcript_id": "tr_nope"}, 404, "not_found"),
    ],
)
def test_bad_submissions_are_refused_and_nothing_is_queued(
    tmp_path: Path,
    database_url: str,
    files: dict[str, Any] | None,
    data: dict[str, Any],
    json_body: dict[str, Any] | None,
    status: int,
    code: str | None,
) -> None:
    with jobs_server(tmp_path, database_url, workers_in_process=0) as client:
        if json_body is not None:
            response = client.post("/v1/jobs", json=json_body)
        else:
            response = client.post("/v1/jobs", files=files, data=data)
        assert response.status_code == status, response.text
        if code is not None:
            assert_error(response, status, code)
        assert client.get("/v1/jobs").json()["data"] == []


def test_not_json_and_no_body_are_refused(tmp_path: Path, database_url: str) -> None:
    with jobs_server(tmp_path, database_url, workers_in_process=0) as client:
        response = client.post(
            "/v1/jobs", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert_error(response, 400, "invalid_value", param="body")
        assert_error(client.post("/v1/jobs", content=b"x"), 400, "invalid_value", param="body")


def test_unknown_ids_answer_404(tmp_path: Path, database_url: str) -> None:
    with jobs_server(tmp_path, database_url, workers_in_process=0) as client:
        for method, path in [
            ("GET", "/v1/jobs/job_nope"),
            ("DELETE", "/v1/jobs/job_nope"),
            ("GET", "/v1/jobs/job_nope/events"),
            ("GET", "/v1/transcripts/tr_nope"),
            ("GET", "/v1/transcripts/tr_nope/versions"),
            ("GET", "/v1/transcripts/tr_nope/chunks"),
            ("DELETE", "/v1/transcripts/tr_nope"),
            ("GET", "/v1/media/md_nope"),
            ("DELETE", "/v1/media/md_nope"),
        ]:
            assert_error(client.request(method, path), 404, "not_found")


def test_edits_and_reruns_are_new_versions(tmp_path: Path, database_url: str) -> None:
    engine = ScriptedEngine.saying("self-test", SAID, "a second opinion")
    with jobs_server(tmp_path, database_url, {"tiny.en": engine}) as client:
        transcript_id = wait_for(client, submit(client)["id"])["transcript_id"]
        edited = client.patch(
            f"/v1/transcripts/{transcript_id}",
            json={"segments": [{"id": 0, "text": "Ask not.", "speaker": "SPEAKER_00"}]},
        )
        assert edited.status_code == 200, edited.text
        assert edited.json()["version"] == 2
        assert edited.json()["reason"] == "edit"
        assert client.get(f"/v1/transcripts/{transcript_id}").json()["text"] == "Ask not."
        first = client.get(f"/v1/transcripts/{transcript_id}", params={"version": 1}).json()
        assert first["text"] == SAID
        vtt = client.get(f"/v1/transcripts/{transcript_id}", params={"response_format": "vtt"})
        assert "Ask not." in vtt.text
        bad = client.patch(f"/v1/transcripts/{transcript_id}", json={"segments": [{"id": 7}]})
        assert_error(bad, 400, "invalid_value")

        rerun = client.post("/v1/jobs", json={"transcript_id": transcript_id})
        assert rerun.status_code == 202, rerun.text
        done = wait_for(client, rerun.json()["id"])
        assert done["transcript_id"] == transcript_id
        versions = client.get(f"/v1/transcripts/{transcript_id}/versions").json()["data"]
        assert [(v["version"], v["reason"]) for v in versions] == [
            (1, "transcription"),
            (2, "edit"),
            (3, "rerun"),
        ]
        assert client.get(f"/v1/transcripts/{transcript_id}").json()["text"] == "a second opinion"


def test_deleting_a_transcript_removes_its_chunks_and_audio(
    tmp_path: Path, database_url: str
) -> None:
    with jobs_server(tmp_path, database_url) as client:
        job = wait_for(client, submit(client)["id"])
        transcript_id, media_id = job["transcript_id"], job["media"]["id"]
        deleted = client.delete(f"/v1/transcripts/{transcript_id}")
        assert deleted.json() == {"id": transcript_id, "object": "transcript", "deleted": True}
        assert_error(client.get(f"/v1/transcripts/{transcript_id}"), 404, "not_found")
        assert_error(client.get(f"/v1/transcripts/{transcript_id}/chunks"), 404, "not_found")
        media = client.get(f"/v1/media/{media_id}").json()
        assert media["deleted_at"] is not None
        rerun = client.post("/v1/jobs", json={"transcript_id": transcript_id})
        assert_error(rerun, 404, "not_found")
    store = open_store(Settings(database_url=database_url, data_dir=tmp_path))
    with store.db.read() as conn:
        trail = [(e.event, e.transcript_id, e.media_id) for e in events(conn)]
    store.close()
    assert ("deleted", transcript_id, media_id) in trail
    assert ("deleted", None, media_id) in trail
    assert not any((tmp_path / "media").rglob("md_*"))


def test_audio_is_deleted_after_transcription_when_not_retained(
    tmp_path: Path, database_url: str
) -> None:
    with jobs_server(tmp_path, database_url, retain_audio="0") as client:
        job = wait_for(client, submit(client)["id"])
        media = client.get(f"/v1/media/{job['media']['id']}").json()
        assert media["deleted_at"] is not None
        assert client.get(f"/v1/transcripts/{job['transcript_id']}").json()["text"] == SAID
        assert_error(
            client.post("/v1/jobs", json={"transcript_id": job["transcript_id"]}),
            410,
            "media_gone",
        )


def test_a_direct_transcription_can_be_stored(tmp_path: Path, database_url: str) -> None:
    with jobs_server(tmp_path, database_url) as client:
        response = client.post(
            "/v1/audio/transcriptions",
            files={"file": ("tone.wav", tone_wav(1.0))},
            data={"store": "true", "response_format": "text"},
        )
        assert response.status_code == 200, response.text
        transcript_id = response.headers["x-echoic-transcript-id"]
        kept = client.get(f"/v1/transcripts/{transcript_id}", params={"response_format": "text"})
        assert kept.text == response.text
        plain = client.post("/v1/audio/transcriptions", files={"file": ("t.wav", tone_wav(1.0))})
        assert "x-echoic-transcript-id" not in plain.headers
        assert len(client.get("/v1/transcripts").json()["data"]) == 1


def test_tenants_see_only_their_own(tmp_path: Path, database_url: str) -> None:
    store = open_store(Settings(database_url=database_url, data_dir=tmp_path))
    _, alice = store.keys.create("alice")
    _, bob = store.keys.create("bob")
    store.close()
    as_alice = {"Authorization": f"Bearer {alice}"}
    as_bob = {"X-API-Key": bob}
    with jobs_server(tmp_path, database_url, auth="required") as client:
        assert_error(client.get("/v1/jobs"), 401, "invalid_api_key")
        mine = client.post(
            "/v1/jobs", files={"file": ("a.wav", tone_wav(1.0))}, headers=as_alice
        ).json()
        theirs = client.post(
            "/v1/jobs", files={"file": ("b.wav", tone_wav(1.0))}, headers=as_bob
        ).json()
        for job, headers in ((mine, as_alice), (theirs, as_bob)):
            deadline = time.monotonic() + 20
            while client.get(f"/v1/jobs/{job['id']}", headers=headers).json()["status"] != (
                "completed"
            ):
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert [j["id"] for j in client.get("/v1/jobs", headers=as_alice).json()["data"]] == [
            mine["id"]
        ]
        assert [j["id"] for j in client.get("/v1/jobs", headers=as_bob).json()["data"]] == [
            theirs["id"]
        ]
        mine = client.get(f"/v1/jobs/{mine['id']}", headers=as_alice).json()
        for method, path in [
            ("GET", f"/v1/jobs/{mine['id']}"),
            ("DELETE", f"/v1/jobs/{mine['id']}"),
            ("GET", f"/v1/jobs/{mine['id']}/events"),
            ("GET", f"/v1/transcripts/{mine['transcript_id']}"),
            ("GET", f"/v1/transcripts/{mine['transcript_id']}/versions"),
            ("GET", f"/v1/transcripts/{mine['transcript_id']}/chunks"),
            ("PATCH", f"/v1/transcripts/{mine['transcript_id']}"),
            ("DELETE", f"/v1/transcripts/{mine['transcript_id']}"),
            ("GET", f"/v1/media/{mine['media']['id']}"),
            ("DELETE", f"/v1/media/{mine['media']['id']}"),
        ]:
            kwargs: dict[str, Any] = {"headers": as_bob}
            if method == "PATCH":
                kwargs["json"] = {"segments": [{"id": 0, "text": "mine now"}]}
            response = client.request(method, path, **kwargs)
            assert_error(response, 404, "not_found")
        rerun = client.post(
            "/v1/jobs", json={"transcript_id": mine["transcript_id"]}, headers=as_bob
        )
        assert_error(rerun, 404, "not_found")
        # …and nothing of Alice's changed.
        kept = client.get(f"/v1/transcripts/{mine['transcript_id']}", headers=as_alice)
        assert kept.json()["text"] == SAID


def test_jobs_are_counted_in_the_metrics(tmp_path: Path, database_url: str) -> None:
    with jobs_server(tmp_path, database_url) as client:
        wait_for(client, submit(client)["id"])
        exposition = client.get("/metrics").text
    assert metric(exposition, "echoic_jobs_total", {"status": "completed"}) == 1
    assert metric(exposition, "echoic_queue_depth", {"queue": "jobs:queued"}) == 0
    assert metric(exposition, "echoic_queue_depth", {"queue": "jobs:running"}) == 0
    assert 'echoic_queue_depth{queue="jobs:queued"}' in exposition
