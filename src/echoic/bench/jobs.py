"""``echoic bench jobs``: what the jobs API sustains, and what its queue adds to a short clip.

Throughput: for each worker count N, a fresh ``echoic serve --workers 0`` (its own SQLite file in
a temporary data directory) and N ``echoic worker`` processes on the same file, the scale-out
path. Once every worker has finished a warm-up job (its model loaded), the long-form file is
submitted ``repeat`` times, then every manifest utterance, each workload waited for on its own.
Throughput is audio hours per wall hour from the first job's ``created_at`` to the last
``finished_at`` (the server's clock, so the client's poll interval does not count); per job, the
queue wait (``started_at − created_at``) and processing time (``finished_at − started_at``).
Each worker process loads its own copy of the model, so with N > 1 processes each gets one
CTranslate2 thread and ``cores // N`` parallel calls (oversubscribed threads made runs up to 19×
slower, DESIGN.md §10); one process keeps the caller's device settings. The server's own model
copy only validates submissions and stays idle.

Queue latency: one ``echoic serve --workers 1`` (warm: one request and one job first), then
``runs`` rounds, interleaved in rotating order, of the same clip as (i) a direct
``POST /v1/audio/transcriptions``, (ii) a job followed over its SSE stream and (iii) a job polled
every ``poll_s``; a job's time is from just before its POST until the client sees it finished,
and also its own ``finished_at − created_at``. The added latency is the job's median minus the
direct median, and the median of the per-round differences.

    data = Path("../shared/eval/dev")
    options = JobsBenchOptions(
        longform=data / "longform/ljspeech_LJ001_chapter.wav",
        files=manifest_files(data / "manifest.jsonl"),
        clip=default_clip(data / "manifest.jsonl"),
    )
    result = run_jobs_bench(options)
    print_jobs_table(result)  # from echoic.bench.jobs_report
    write_jobs_report(result, Path("bench-results/jobs.json"))

The result and its arithmetic are in :mod:`echoic.bench.jobs_result`, its table, JSON and plot in
:mod:`echoic.bench.jobs_report`, and the server and worker processes in :mod:`echoic.bench.fleet`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from echoic.audio import probe_audio
from echoic.bench.fleet import fleet, worker_id
from echoic.bench.jobs_result import (
    CONTENDERS,
    DONE,
    FINISHED,
    Batch,
    JobRecord,
    JobsBenchResult,
    Latency,
    Level,
    audio_hours_per_hour,
)
from echoic.bench.manifest import load_manifest
from echoic.bench.rest import TRANSCRIPTIONS, ServerUnavailableError
from echoic.engines.faster_whisper import DeviceConfig, resolve_device
from echoic.errors import InvalidRequestError

JOBS = "/v1/jobs"
CLIP_ID = "jfk-inaugural-1961"  # the default latency clip: 11 s, in the manifest


@dataclass(frozen=True, kw_only=True)
class JobsBenchOptions:
    #: Long-form file, submitted ``repeat`` times; ``None`` or ``repeat=0``: skipped.
    longform: Path | None = None
    repeat: int = 2
    #: Short files submitted once each (the manifest's utterances); empty: skipped.
    files: tuple[Path, ...] = ()
    #: The latency clip; ``None``: no latency part.
    clip: Path | None = None
    model: str = "tiny.en"
    workers: tuple[int, ...] = (1, 2)
    runs: int = 10
    #: The device settings of one worker process (and of the latency server).
    device: DeviceConfig = field(default_factory=DeviceConfig)
    poll_s: float = 0.02
    batch_poll_s: float = 0.5
    #: A workload's jobs not finished after this long are reported as unfinished.
    batch_timeout_s: float = 3600.0
    ready_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if not self.workers or min(self.workers) < 1:
            raise ValueError(f"worker counts must be at least 1, got {self.workers}")
        if self.repeat < 0 or self.runs < 1:
            raise ValueError(f"repeat must be ≥ 0 and runs ≥ 1, got {self.repeat}, {self.runs}")

    @property
    def workloads(self) -> list[tuple[str, tuple[Path, ...]]]:
        loads: list[tuple[str, tuple[Path, ...]]] = []
        if self.longform is not None and self.repeat:
            loads.append((f"longform ×{self.repeat}", (self.longform,) * self.repeat))
        if self.files:
            loads.append((f"manifest ({len(self.files)})", self.files))
        return loads


def manifest_files(manifest: Path, *, limit: int | None = None) -> tuple[Path, ...]:
    return tuple(u.audio for u in load_manifest(manifest, limit=limit))


def default_clip(manifest: Path) -> Path:
    return load_manifest(manifest, ids=[CLIP_ID])[0].audio


def level_device(device: DeviceConfig, processes: int, cores: int) -> DeviceConfig:
    """One process keeps ``device``; N share the cores: one thread and ``cores // N`` calls
    each, so that the processes' threads together do not outnumber the cores."""
    if processes == 1:
        return device
    return replace(device, cpu_threads=1, workers=max(1, cores // processes))


Progress = Callable[[str], None]


def run_jobs_bench(
    options: JobsBenchOptions, *, progress: Progress | None = None
) -> JobsBenchResult:
    """Throughput per worker count, then queue latency. Raises :class:`InvalidRequestError` for
    a missing file and :class:`ServerUnavailableError` for a server or worker that exits, is
    never ready, or finishes no warm-up job."""
    say = progress or (lambda _line: None)
    paths = [*(p for _, files in options.workloads for p in files), *filter(None, [options.clip])]
    for path in paths:
        if not path.is_file():
            raise InvalidRequestError(f"{path}: no such file")
    audio = {path: (path.read_bytes(), probe_audio(path).duration_s or 0.0) for path in paths}
    load_before = os.getloadavg()[0]
    levels = []
    if options.workloads:
        warm = min(audio, key=lambda path: audio[path][1])  # the shortest file warms up
        for workers in options.workers:
            levels.append(_throughput_level(options, workers, audio, warm, say))
    latency = None if options.clip is None else _latency(options, options.clip, audio, say)
    return JobsBenchResult(
        options=options,
        levels=tuple(levels),
        latency=latency,
        load_1m=(load_before, os.getloadavg()[0]),
    )


Audio = dict[Path, tuple[bytes, float]]


def _throughput_level(
    options: JobsBenchOptions, workers: int, audio: Audio, warm: Path, say: Progress
) -> Level:
    device = level_device(options.device, workers, os.cpu_count() or 1)
    resolved = resolve_device(device)
    say(f"{workers} worker(s): {resolved.cpu_threads} thread(s) × {resolved.workers} call(s) each")
    with fleet(
        options.model,
        device,
        in_process=0,
        worker_processes=workers,
        ready_timeout_s=options.ready_timeout_s,
    ) as (http, check):
        ids = {worker_id(n) for n in range(1, workers + 1)}
        _warm_workers(http, options, audio, warm, ids, check)
        batches = []
        for workload, files in options.workloads:
            batch = _batch(http, options, audio, files, workload, workers, check)
            say(
                f"  {workload}: {batch.count('completed')}/{len(batch.jobs)} completed, "
                f"{audio_hours_per_hour(batch.jobs) or 0:.1f} audio h/h"
            )
            batches.append(batch)
    return Level(
        workers=workers,
        cpu_threads=resolved.cpu_threads,
        calls=resolved.workers,
        batches=tuple(batches),
    )


def _warm_workers(
    http: httpx.Client,
    options: JobsBenchOptions,
    audio: Audio,
    clip: Path,
    worker_ids: set[str],
    check: Callable[[], None],
) -> None:
    """Rounds of one job per worker until every worker has finished one (its model loaded)."""
    deadline = time.monotonic() + options.ready_timeout_s
    seen: set[str] = set()
    while not worker_ids <= seen:
        if time.monotonic() > deadline:
            missing = ", ".join(sorted(worker_ids - seen))
            raise ServerUnavailableError(f"{missing} finished no warm-up job in time")
        records = [_submit(http, options, clip, audio) for _ in worker_ids]
        done = _wait(http, options, records, deadline, check)
        if bad := [j for j in done if not j.completed]:
            raise ServerUnavailableError(f"a warm-up job was {bad[0].status}: {bad[0].error}")
        seen |= {j.worker_id for j in done if j.worker_id}


def _batch(
    http: httpx.Client,
    options: JobsBenchOptions,
    audio: Audio,
    files: Sequence[Path],
    workload: str,
    workers: int,
    check: Callable[[], None],
) -> Batch:
    started = time.perf_counter()
    records = []
    for path in files:
        check()
        records.append(_submit(http, options, path, audio))
    jobs = _wait(http, options, records, time.monotonic() + options.batch_timeout_s, check)
    return Batch(
        workload=workload, workers=workers, jobs=tuple(jobs), client_s=time.perf_counter() - started
    )


def _submit(http: httpx.Client, options: JobsBenchOptions, path: Path, audio: Audio) -> JobRecord:
    body, audio_s = audio[path]
    try:
        response = http.post(JOBS, files={"file": (path.name, body)}, data={"model": options.model})
    except httpx.TransportError as exc:
        return JobRecord(id="", status="rejected", audio_s=audio_s, error=_describe(exc))
    if response.status_code != 202:
        return JobRecord(id="", status="rejected", audio_s=audio_s, error=_http_error(response))
    return JobRecord.of(response.json(), audio_s)


def _wait(
    http: httpx.Client,
    options: JobsBenchOptions,
    records: list[JobRecord],
    deadline: float,
    check: Callable[[], None],
) -> list[JobRecord]:
    """The records as the API shows them once all are finished (or at ``deadline``).

    Only the oldest unfinished job is polled (the queue runs them in order; a finished one
    moves on to the next at once): one small request per ``batch_poll_s``, not a listing of
    every job, so that the poll takes next to nothing from the workers."""
    records = list(records)
    index = 0
    while time.monotonic() <= deadline:
        while index < len(records) and records[index].status in DONE:
            index += 1
        if index == len(records):
            break
        check()
        try:
            response = http.get(f"{JOBS}/{records[index].id}")
        except httpx.TransportError:
            response = None  # the check above tells a server that went away
        if response is not None and response.status_code == 200:
            records[index] = JobRecord.of(response.json(), records[index].audio_s)
        if records[index].status not in DONE:
            time.sleep(options.batch_poll_s)
    current = _list_jobs(http)
    return [JobRecord.of(current[r.id], r.audio_s) if r.id in current else r for r in records]


def _list_jobs(http: httpx.Client) -> dict[str, dict[str, Any]]:
    """Every job of the (anonymous) tenant, one page of 100 at a time."""
    jobs: dict[str, dict[str, Any]] = {}
    params: dict[str, Any] = {"limit": 100}
    while True:
        try:
            response = http.get(JOBS, params=params)
        except httpx.TransportError as exc:
            raise ServerUnavailableError(f"listing the jobs failed: {_describe(exc)}") from exc
        if response.status_code != 200:
            raise ServerUnavailableError(f"listing the jobs failed: {_http_error(response)}")
        page = response.json()
        jobs.update({job["id"]: job for job in page["data"]})
        if not page["has_more"]:
            return jobs
        params["after"] = page["last_id"]


def _latency(options: JobsBenchOptions, clip: Path, audio: Audio, say: Progress) -> Latency:
    body, audio_s = audio[clip]
    say(f"queue latency: {clip.name} ({audio_s:.1f} s), {options.runs} rounds")
    rounds: list[dict[str, float | None]] = []
    jobs: list[JobRecord] = []
    errors: list[str] = []
    with fleet(
        options.model,
        options.device,
        in_process=1,
        worker_processes=0,
        ready_timeout_s=options.ready_timeout_s,
    ) as (http, check):
        measure: dict[str, Callable[[], Measured]] = {
            "direct": lambda: _direct(http, options, clip, body),
            "job (SSE)": lambda: _job_sse(http, options, clip, audio),
            "job (poll)": lambda: _job_poll(http, options, clip, audio),
        }
        for name, run in measure.items():  # warm-up: the model, VAD, the job path
            _, job, error = run()
            if error is not None:
                raise ServerUnavailableError(f"the warm-up {name} failed: {error}")
        for n in range(options.runs):
            check()
            order = CONTENDERS[n % 3 :] + CONTENDERS[: n % 3]
            row: dict[str, float | None] = {}
            for name in order:
                row[name], job, error = measure[name]()
                if job is not None:
                    jobs.append(job)
                if error is not None:
                    errors.append(f"{name}: {error}")
            rounds.append(row)
    return Latency(
        clip=clip, audio_s=audio_s, rounds=tuple(rounds), jobs=tuple(jobs), errors=tuple(errors)
    )


Measured = tuple[float | None, JobRecord | None, str | None]


def _direct(http: httpx.Client, options: JobsBenchOptions, clip: Path, body: bytes) -> Measured:
    started = time.perf_counter()
    try:
        response = http.post(
            TRANSCRIPTIONS,
            files={"file": (clip.name, body)},
            data={"model": options.model, "response_format": "json"},
        )
    except httpx.TransportError as exc:
        return None, None, _describe(exc)
    elapsed = time.perf_counter() - started
    return (
        (elapsed, None, None)
        if response.status_code == 200
        else (None, None, _http_error(response))
    )


def _job_sse(http: httpx.Client, options: JobsBenchOptions, clip: Path, audio: Audio) -> Measured:
    started = time.perf_counter()
    job = _submit(http, options, clip, audio)
    if job.status == "rejected":
        return None, None, job.error
    try:
        with http.stream(
            "GET", f"{JOBS}/{job.id}/events", timeout=httpx.Timeout(30.0, read=None)
        ) as stream:
            for name, _data in parse_sse(stream.iter_lines()):
                if name in FINISHED:
                    break
    except httpx.HTTPError as exc:
        return None, job, _describe(exc)
    elapsed = time.perf_counter() - started
    return _finished(http, job, elapsed)


def _job_poll(http: httpx.Client, options: JobsBenchOptions, clip: Path, audio: Audio) -> Measured:
    started = time.perf_counter()
    job = _submit(http, options, clip, audio)
    if job.status == "rejected":
        return None, None, job.error
    deadline = time.monotonic() + options.batch_timeout_s
    while job.status not in FINISHED and time.monotonic() < deadline:
        time.sleep(options.poll_s)
        try:
            response = http.get(f"{JOBS}/{job.id}")
        except httpx.TransportError as exc:
            return None, job, _describe(exc)
        if response.status_code != 200:
            return None, job, _http_error(response)
        job = JobRecord.of(response.json(), job.audio_s)
    return _finished(http, job, time.perf_counter() - started)


def _finished(http: httpx.Client, job: JobRecord, elapsed: float) -> Measured:
    """The job's final record (its timestamps), and its time if it completed."""
    try:
        response = http.get(f"{JOBS}/{job.id}")
    except httpx.TransportError as exc:
        return None, job, _describe(exc)
    if response.status_code != 200:
        return None, job, _http_error(response)
    final = JobRecord.of(response.json(), job.audio_s)
    if not final.completed:
        return None, final, f"job {final.id} {final.status}: {final.error}"
    return elapsed, final, None


def parse_sse(lines: Iterable[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event name, data) for each event of a Server-Sent Events stream."""
    name = "message"
    for line in lines:
        if line.startswith("event:"):
            name = line.partition(":")[2].strip()
        elif line.startswith("data:"):
            yield name, json.loads(line.partition(":")[2])
            name = "message"


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def _http_error(response: httpx.Response) -> str:
    return f"HTTP {response.status_code}: {response.text[:200]}"
