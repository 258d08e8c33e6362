"""The concurrency sweep with drafts batched across streams and staggered starts, with the real
model on a real session, in fast mode (functional checks, not latency figures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from echoic.bench.stream import SessionFile, StreamBenchOptions
from echoic.bench.stream_sweep import (
    SweepCriteria,
    SweepOptions,
    SweepResult,
    run_sweep,
    utterance_period_s,
    write_sweep_report,
)
from echoic.engines.faster_whisper import DeviceConfig

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def session_01(eval_dir: Path) -> Path:
    return eval_dir / "sessions" / "session_01.wav"


def sweep_of(models_dir: Path, session: Path, k: int, *, stagger: bool) -> SweepResult:
    bench = StreamBenchOptions(
        sessions=(session,),
        models_dir=models_dir,
        model="tiny.en",
        realtime=False,
        device=DeviceConfig(device="cpu"),
        max_batch=4,
    )
    criteria = SweepCriteria(max_final_p95_s=60.0, max_growth=100.0)  # fast mode: judge loosely
    return run_sweep(SweepOptions(bench=bench, levels=(k,), criteria=criteria, stagger=stagger))


@pytest.fixture(scope="module")
def sweep(models_dir: Path, session_01: Path) -> SweepResult:
    """Three streams at once, as fast as they go: their drafts pile up and go together."""
    return sweep_of(models_dir, session_01, 3, stagger=False)


def test_streams_with_batched_drafts_each_get_every_final(sweep: SweepResult) -> None:
    (level,) = sweep.levels
    assert len(level.runs) == 3
    for run in level.runs:
        assert run.aborted is None
        assert run.matches.references == 6
        assert run.matches.no_final == 0
        assert run.counts.wer < 0.2
    stats = level.scheduler
    assert stats.batches >= 1
    assert stats.batched <= 4 * stats.batches
    assert stats.drafts >= stats.batched
    assert level.summary.frames_dropped == 0
    assert sweep.max_batch == 4
    assert sweep.stagger_period_s == 0.0


def test_staggered_streams_start_one_utterance_period_apart_in_all(
    models_dir: Path, session_01: Path, tmp_path: Path
) -> None:
    staggered = sweep_of(models_dir, session_01, 2, stagger=True)
    period = utterance_period_s(SessionFile.load(session_01))
    assert period == pytest.approx(37.82 / 6, abs=0.01)  # 6 utterances in 37.8 s
    (level,) = staggered.levels
    assert all(run.matches.no_final == 0 for run in level.runs)
    json_path, _ = write_sweep_report(staggered, tmp_path / "sweep.json")
    report = json.loads(json_path.read_text())
    assert report["max_batch"] == 4
    assert report["stagger_period_s"] == pytest.approx(period, abs=0.001)
    assert report["levels"][0]["scheduler"]["batches"] == level.scheduler.batches
