"""``echoic bench stream`` in dual-model mode and the concurrency sweep, with real models on a
real session, in fast mode (not real time: functional checks, not latency figures)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from echoic.bench.stream import StreamBenchOptions, StreamBenchResult, run_stream_bench
from echoic.bench.stream_sweep import (
    SweepCriteria,
    SweepOptions,
    SweepResult,
    print_sweep_table,
    run_sweep,
    write_sweep_report,
)
from echoic.engines.faster_whisper import DeviceConfig
from echoic.streaming.events import EventType

pytestmark = pytest.mark.slow

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def session_01(eval_dir: Path) -> Path:
    return eval_dir / "sessions" / "session_01.wav"


@pytest.fixture(scope="module")
def dual(models_dir: Path, session_01: Path) -> StreamBenchResult:
    options = StreamBenchOptions(
        sessions=(session_01,),
        models_dir=models_dir,
        model="tiny.en",
        confirm_model="base",
        realtime=False,
        device=DeviceConfig(device="cpu"),
    )
    return run_stream_bench(options)


def test_tiny_drafts_and_base_finals(dual: StreamBenchResult) -> None:
    (run,) = dual.runs
    assert (dual.model, dual.confirm_model, dual.language) == ("tiny.en", "base", "en")
    assert dual.machine.cpu_threads == 1  # two models on two cores: one thread each
    assert dual.stream.confirm_interval_ms == 1000
    assert dual.matches.references == 6
    assert dual.matches.no_final == 0
    assert dual.matches.gap_words == 0
    for u in run.utterances:
        assert u.final_s is not None
    finals = [r for r in run.events if r.type is EventType.FINAL]
    assert {r.event.data["model"] for r in finals} == {"base"}
    drafts = [r for r in run.events if r.event.data.get("confidence") == "draft"]
    assert {r.event.data["model"] for r in drafts} <= {"tiny.en"}
    assert dual.streaming_counts.words == 87
    assert dual.streaming_counts.wer < 0.2
    # The batch path ran on the confirming model, in the stream's language.
    assert dual.batch_options.language == "en"
    batch = dual.batch_counts
    assert batch is not None
    assert batch.wer < 0.2
    assert dual.frames_dropped == 0
    assert dual.to_dict()["stream_mode"] == "speculative"


@pytest.fixture(scope="module")
def sweep(models_dir: Path, session_01: Path) -> SweepResult:
    bench = StreamBenchOptions(
        sessions=(session_01,),
        models_dir=models_dir,
        model="tiny.en",
        realtime=False,
        device=DeviceConfig(device="cpu"),
    )
    # Fast mode queues every stream's audio at once: latencies mean nothing, so judge loosely.
    criteria = SweepCriteria(max_final_p95_s=60.0, max_growth=100.0)
    return run_sweep(SweepOptions(bench=bench, levels=(2,), criteria=criteria))


def test_two_streams_at_once_each_get_every_final(sweep: SweepResult) -> None:
    (level,) = sweep.levels
    assert level.k == 2
    assert len(level.runs) == 2
    for run in level.runs:
        assert run.session == "session_01"
        assert run.aborted is None
        assert run.matches.references == 6
        assert run.matches.no_final == 0
        assert run.events[-1].type is EventType.END
        assert run.counts.wer < 0.2
    assert level.runs[0].text == level.runs[1].text  # the same audio, the same finals
    # Two streams, one scheduler: both streams' finals went through it.
    assert level.scheduler.finals >= 2 * 6
    summary = level.summary
    assert summary.utterances == 12
    assert summary.no_final == 0
    assert summary.frames_dropped == 0
    assert sweep.largest_k == 2


def test_sweep_report(sweep: SweepResult, tmp_path: Path) -> None:
    json_path, png_path = write_sweep_report(sweep, tmp_path / "sweep.json")
    report = json.loads(json_path.read_text())
    assert report["kind"] == "stream-sweep"
    assert report["largest_k"] == 2
    (level,) = report["levels"]
    assert level["holds"] is True
    assert len(level["streams"]) == 2
    assert png_path.read_bytes()[:8] == PNG_MAGIC
    console = Console(file=io.StringIO(), width=200)
    print_sweep_table(sweep, console)
    assert "largest K that holds" in console.file.getvalue()  # type: ignore[attr-defined]
