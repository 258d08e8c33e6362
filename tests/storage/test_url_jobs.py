"""URL jobs through the API on SQLite and PostgreSQL: fetched by the worker from a real (local)
web server, or failed with a reason a person understands."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.media_site import media_site
from tests.server_kit import SAID, tone_wav
from tests.storage.test_jobs_api import jobs_server, wait_for

HTML = b"<!doctype html><html><head><title>Not media</title></head><body>hello</body></html>"


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/speech.wav", "completed", None),
        ("/page.html", "failed", "unsupported_url"),
        ("/missing.wav", "failed", "unsupported_url"),
        ("/huge.wav", "failed", "file_too_large"),
    ],
)
def test_url_jobs(
    tmp_path: Path, database_url: str, path: str, status: str, code: str | None
) -> None:
    pages = {
        "/speech.wav": ("audio/wav", tone_wav(2.0)),
        "/page.html": ("text/html", HTML),
        "/huge.wav": ("audio/wav", tone_wav(20.0)),  # 640 kB, over the 200 kB set below
    }
    with (
        media_site(pages) as site,
        jobs_server(
            tmp_path, database_url, url_allow_private=True, max_upload_bytes=200_000
        ) as client,
    ):
        submitted = client.post("/v1/jobs", json={"url": site.url(path)})
        assert submitted.status_code == 202, submitted.text
        assert submitted.json()["media"] == {
            "id": submitted.json()["media"]["id"],
            "source": "url",
            "url": site.url(path),
            "filename": None,
            "duration_s": None,
            "deleted": False,
        }
        job = wait_for(client, submitted.json()["id"])
        assert job["status"] == status, job
        if code is None:
            assert client.get(f"/v1/transcripts/{job['transcript_id']}").json()["text"] == SAID
            media = client.get(f"/v1/media/{job['media']['id']}").json()
            assert media["size_bytes"] == len(pages[path][1])
            assert media["sha256"] is not None
        else:
            assert job["error"]["code"] == code, job["error"]
            assert job["error"]["message"]
            assert job["attempts"] == 1  # a permanent error: no retry
            assert job["dead_letter"] is False
        assert site.seen[0] == path
