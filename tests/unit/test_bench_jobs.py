"""The jobs benchmark's arithmetic: throughput, spreads, added latency, the thread split, the
SSE parser, and a report that counts every job (``echoic bench jobs``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from echoic.bench.jobs import JobsBenchOptions, level_device, parse_sse
from echoic.bench.jobs_report import print_jobs_table, write_jobs_report
from echoic.bench.jobs_result import (
    Batch,
    JobRecord,
    JobsBenchResult,
    Latency,
    Level,
    added_s,
    audio_hours_per_hour,
    paired_added_s,
    span_s,
    timing_of,
)
from echoic.engines.faster_whisper import DeviceConfig


def job(
    status: str = "completed",
    *,
    audio_s: float = 60.0,
    created: float | None = 100.0,
    started: float | None = 101.0,
    finished: float | None = 111.0,
    worker: str | None = "w1",
    error: str | None = None,
) -> JobRecord:
    return JobRecord(
        id=f"job_{status}_{created}_{finished}",
        status=status,
        audio_s=audio_s,
        created_at=created,
        started_at=started,
        finished_at=finished,
        worker_id=worker,
        error=error,
    )


def body(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "job_1",
        "status": "completed",
        "created_at": 10.0,
        "started_at": 10.5,
        "finished_at": 12.0,
        "worker_id": "bench-worker-1",
        "error": None,
        "media": {"duration_s": 11.0},
        **overrides,
    }


def test_a_job_record_reads_the_api_body() -> None:
    record = JobRecord.of(body(), audio_s=99.0)
    assert record.audio_s == 11.0  # the server's probe wins
    assert record.wait_s == pytest.approx(0.5)
    assert record.processing_s == pytest.approx(1.5)
    assert record.turnaround_s == pytest.approx(2.0)
    assert record.worker_id == "bench-worker-1"


def test_a_failed_job_keeps_its_error_and_has_no_processing_time() -> None:
    failed = JobRecord.of(
        body(status="failed", error={"message": "not audio", "code": "x"}, media={}), audio_s=3.0
    )
    assert failed.audio_s == 3.0  # no server duration: the client's
    assert failed.error == "not audio"
    assert failed.processing_s is None
    assert failed.turnaround_s is None
    assert failed.wait_s == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("jobs", "span", "rate"),
    [
        # two 60 s files, created at 100, finished at 111 and 130: 120 s of audio in 30 s
        ([job(finished=111.0), job(created=101.0, finished=130.0)], 30.0, 4.0),
        # a failed job's audio does not count, but its submission still starts the clock
        (
            [job(created=90.0, finished=110.0), job("failed", created=80.0, finished=85.0)],
            30.0,
            2.0,
        ),
        # a rejected submission has no timestamps and changes nothing
        ([job(), JobRecord(id="", status="rejected", audio_s=60.0)], 11.0, 60.0 / 11.0),
        # nothing completed: nothing measured
        ([job("failed"), job("queued", started=None, finished=None)], None, None),
        ([], None, None),
    ],
)
def test_throughput_is_completed_audio_over_first_created_to_last_finished(
    jobs: list[JobRecord], span: float | None, rate: float | None
) -> None:
    assert span_s(jobs) == (None if span is None else pytest.approx(span))
    assert audio_hours_per_hour(jobs) == (None if rate is None else pytest.approx(rate))


def test_timing_of_ignores_missing_values() -> None:
    timing = timing_of([3.0, None, 1.0, 2.0])
    assert timing is not None
    assert (timing.median_s, timing.min_s, timing.max_s) == (2.0, 1.0, 3.0)
    assert timing_of([None, None]) is None


def test_added_latency_from_medians_and_from_pairs() -> None:
    direct = [1.0, 1.2, 5.0]  # an outlier in the third round
    jobs = [1.3, 1.4, 5.4]
    assert added_s(jobs, direct) == pytest.approx(1.4 - 1.2)
    assert paired_added_s(jobs, direct) == pytest.approx(0.3)  # of 0.3, 0.2, 0.4
    # a round where either side failed is not a pair
    assert paired_added_s([None, 1.5, 2.0], [1.0, None, 1.0]) == pytest.approx(1.0)
    assert paired_added_s([None], [1.0]) is None
    assert added_s([], [1.0]) is None


@pytest.mark.parametrize(
    ("processes", "cores", "threads", "calls"),
    [
        (1, 2, 0, 0),  # one process: the caller's settings, untouched
        (2, 2, 1, 1),  # DESIGN.md §10: one thread each, no oversubscription
        (2, 8, 1, 4),
        (4, 2, 1, 1),  # more processes than cores: the least each can have
    ],
)
def test_worker_processes_share_the_cores(
    processes: int, cores: int, threads: int, calls: int
) -> None:
    device = level_device(DeviceConfig(compute_type="int8"), processes, cores)
    assert (device.cpu_threads, device.workers) == (threads, calls)
    assert device.compute_type == "int8"


def test_sse_lines_become_named_events() -> None:
    lines = [
        "id: 1",
        "event: queued",
        'data: {"job_id": "job_1", "type": "queued"}',
        "",
        ": a comment",
        "id: 3",
        "event: completed",
        'data: {"transcript_id": "tr_1"}',
        "",
        'data: {"plain": true}',
    ]
    assert list(parse_sse(lines)) == [
        ("queued", {"job_id": "job_1", "type": "queued"}),
        ("completed", {"transcript_id": "tr_1"}),
        ("message", {"plain": True}),
    ]


def test_options_check_their_counts_and_name_their_workloads(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="worker counts"):
        JobsBenchOptions(workers=(0,))
    with pytest.raises(ValueError, match="repeat"):
        JobsBenchOptions(repeat=-1)
    files = (tmp_path / "a.wav", tmp_path / "b.wav")
    options = JobsBenchOptions(longform=tmp_path / "long.wav", repeat=2, files=files)
    assert [(name, len(paths)) for name, paths in options.workloads] == [
        ("longform ×2", 2),
        ("manifest (2)", 2),
    ]
    assert JobsBenchOptions(longform=tmp_path / "long.wav", repeat=0).workloads == []


def result_with_a_failure(tmp_path: Path) -> JobsBenchResult:
    batch = Batch(
        workload="manifest (3)",
        workers=1,
        client_s=31.0,
        jobs=(
            job(finished=111.0),
            job(created=101.0, started=111.0, finished=130.0),
            job("failed", created=102.0, finished=112.0, error="decoder exploded"),
        ),
    )
    faster = Batch(
        workload="manifest (3)",
        workers=2,
        client_s=16.0,
        jobs=(
            job(finished=111.0),
            job(created=101.0, finished=115.0, worker="w2"),
            job(created=102.0, finished=112.0, worker="w2"),
        ),
    )
    latency = Latency(
        clip=tmp_path / "jfk.wav",
        audio_s=11.0,
        rounds=(
            {"direct": 1.0, "job (SSE)": 1.2, "job (poll)": 1.1},
            {"direct": 1.1, "job (SSE)": None, "job (poll)": 1.3},
        ),
        jobs=(job(audio_s=11.0, created=0.0, started=0.01, finished=1.0),),
        errors=("job (SSE): HTTP 500: boom",),
    )
    return JobsBenchResult(
        options=JobsBenchOptions(files=(tmp_path / "a.wav",) * 3, workers=(1, 2)),
        levels=(
            Level(workers=1, cpu_threads=1, calls=2, batches=(batch,)),
            Level(workers=2, cpu_threads=1, calls=1, batches=(faster,)),
        ),
        latency=latency,
    )


def test_the_report_counts_every_job_and_writes_json_and_png(tmp_path: Path) -> None:
    result = result_with_a_failure(tmp_path)
    json_path, png_path = write_jobs_report(result, tmp_path / "out" / "jobs.json")
    report = json.loads(json_path.read_text())
    assert png_path.stat().st_size > 0
    assert report["kind"] == "jobs"
    one, two = (level["batches"][0] for level in report["throughput"])
    assert (one["jobs"], one["completed"], one["failed"], one["unfinished"]) == (3, 2, 1, 0)
    assert one["first_error"] == "decoder exploded"
    assert len(one["job_list"]) == 3
    assert one["audio_s"] == 120.0
    assert one["span_s"] == 30.0
    assert one["audio_h_per_h"] == 4.0
    assert one["processing_s"]["median_s"] == pytest.approx(14.5)  # of 10 and 19
    assert "rtfx" not in one["processing_s"]
    assert two["audio_h_per_h"] == pytest.approx(180.0 / 15.0)
    assert two["jobs_per_worker"] == {"w1": 1, "w2": 2}
    client = report["latency"]["client"]
    assert client["direct"]["median_s"] == pytest.approx(1.05)
    assert client["job (SSE)"]["failures"] == 1
    assert client["job (SSE)"]["added_s"] == pytest.approx(1.2 - 1.05)
    assert client["job (SSE)"]["added_paired_s"] == pytest.approx(0.2)
    assert client["job (poll)"]["added_paired_s"] == pytest.approx(0.15)
    assert report["latency"]["job_timestamps"]["wait_s"]["median_s"] == pytest.approx(0.01)
    assert report["latency"]["errors"] == ["job (SSE): HTTP 500: boom"]


def test_the_table_shows_rates_ratios_and_failures(tmp_path: Path) -> None:
    console = Console(record=True, width=200)
    print_jobs_table(result_with_a_failure(tmp_path), console)
    text = console.export_text()
    assert "4.0" in text  # audio h/h with one worker
    assert "12.0" in text  # two workers
    assert "3.00×" in text  # and their ratio to one
    assert "+0.150" in text  # SSE: added over direct, medians
    assert "job (SSE): HTTP 500: boom" in text
