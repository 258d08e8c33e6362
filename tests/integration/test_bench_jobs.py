"""``echoic bench jobs`` for real: servers and ``echoic worker`` processes on loopback with the
real tiny.en, on a tiny workload; and its clear errors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from echoic.bench.jobs import JobsBenchOptions, run_jobs_bench
from echoic.bench.manifest import load_manifest
from echoic.bench.rest import ServerUnavailableError
from echoic.cli import cli
from tests.speech import JFK_PATH


@pytest.mark.slow
def test_throughput_with_one_and_two_workers_and_queue_latency(
    tmp_path: Path, eval_dir: Path
) -> None:
    out = tmp_path / "jobs.json"
    result = CliRunner().invoke(
        cli,
        [
            "bench", "jobs", "--data", str(eval_dir), "--workers", "1,2", "--repeat", "0",
            "--limit", "3", "--runs", "2", "-o", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["kind"] == "jobs"
    assert report["model"] == "tiny.en"
    audio_s = sum(u.duration_s for u in load_manifest(eval_dir / "manifest.jsonl", limit=3))
    levels = report["throughput"]
    assert [level["workers"] for level in levels] == [1, 2]
    assert [level["cpu_threads_per_worker"] for level in levels] == [1, 1]
    for level in levels:
        (batch,) = level["batches"]
        assert batch["workload"] == "manifest (3)"
        assert (batch["jobs"], batch["completed"], batch["failed"]) == (3, 3, 0)
        assert batch["unfinished"] == 0
        assert batch["audio_s"] == pytest.approx(audio_s, abs=0.1)
        assert sum(batch["jobs_per_worker"].values()) == 3
        assert set(batch["jobs_per_worker"]) <= {"bench-worker-1", "bench-worker-2"}
        assert 0 < batch["span_s"] <= batch["client_s"] + 1
        assert batch["audio_h_per_h"] == pytest.approx(batch["audio_s"] / batch["span_s"], rel=0.01)
        assert 0 < batch["processing_s"]["median_s"] < batch["span_s"]
        assert all(job["status"] == "completed" for job in batch["job_list"])
    latency = report["latency"]
    assert latency["audio_s"] == pytest.approx(11.0, abs=0.1)
    assert latency["runs"] == 2
    for name in ("direct", "job (SSE)", "job (poll)"):
        contender = latency["client"][name]
        assert contender["failures"] == 0
        assert len(contender["times_s"]) == 2
        assert 0 < contender["min_s"] <= contender["median_s"] <= contender["max_s"]
    # a job is never faster than its own work, seen from the server's clock
    timestamps = latency["job_timestamps"]
    assert len(timestamps["turnaround_s"]["times_s"]) == 4
    assert 0 <= timestamps["wait_s"]["median_s"] < timestamps["turnaround_s"]["median_s"]
    assert latency["errors"] == []
    assert out.with_suffix(".png").stat().st_size > 0
    assert "queue latency" in result.output
    assert "audio h/h" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "2,1"], "worker counts must increase"),
        (["--workers", "0"], "worker counts must be positive"),
        (["--no-throughput", "--no-latency"], "nothing to measure"),
        (["--data", "{missing}"], "manifest.jsonl"),
        (["--data", "{missing}", "--no-manifest", "--no-latency"], "no such file"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(
    args: list[str], message: str, tmp_path: Path
) -> None:
    missing = str(tmp_path / "nowhere")
    result = CliRunner().invoke(cli, ["bench", "jobs", *(a.format(missing=missing) for a in args)])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_a_server_that_cannot_start_is_reported_with_its_log(
    tmp_path: Path, shared_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECHOIC_MODELS_DIR", str(tmp_path / "no-models"))
    options = JobsBenchOptions(files=(shared_dir / JFK_PATH,), workers=(1,), ready_timeout_s=60)
    started = time.monotonic()
    with pytest.raises(ServerUnavailableError, match=r"(?s)exited.*tiny\.en"):
        run_jobs_bench(options)
    assert time.monotonic() - started < 30
