"""``echoic bench`` end to end: the real tiny.en model on a few real clips of the dev set."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from echoic.bench import (
    LoadedEngine,
    SpeedOptions,
    WerOptions,
    WerResult,
    load_engine,
    print_report,
    run_speed,
    run_wer,
    save_report,
)
from echoic.engines.faster_whisper import DeviceConfig
from echoic.types import TranscribeOptions

pytestmark = pytest.mark.slow

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CLIPS = ("jfk-inaugural-1961", "lj-LJ001-0002", "ls-367-130732-0000")  # 11 s, 1.9 s, 2.4 s


@pytest.fixture(scope="module")
def tiny_bench(models_dir: Path) -> LoadedEngine:
    return load_engine("tiny.en", models_dir, DeviceConfig(device="cpu"))


@pytest.fixture(scope="module")
def wer_result(tiny_bench: LoadedEngine, eval_dir: Path) -> WerResult:
    options = WerOptions(
        manifest=eval_dir / "manifest.jsonl",
        ids=CLIPS,
        compare_plain=True,
        # No fallback to sampling (temperature > 0), which could make the two paths differ.
        transcribe=TranscribeOptions(temperature=0.0),
    )
    return run_wer(tiny_bench, options)


def test_wer_of_echoic_and_plain_faster_whisper_agree(wer_result: WerResult) -> None:
    assert sorted(u.id for u in wer_result.utterances) == sorted(CLIPS)
    assert wer_result.plain is not None
    assert wer_result.echoic.wer < 0.3
    # Same model, same options, same audio: echoic's own code must not change a word.
    assert wer_result.plain.wer == wer_result.echoic.wer
    assert wer_result.wer_delta == 0.0
    assert wer_result.differing == 0
    for u in wer_result.utterances:
        assert u.plain is not None
        assert u.echoic.normalized == u.plain.normalized
        assert u.echoic.counts.words == len(u.reference_normalized.split())
        assert not u.echoic.batched  # short clips take the sequential decoder
    jfk = next(u for u in wer_result.utterances if u.id == "jfk-inaugural-1961")
    assert "ask not what your country can do for you" in jfk.echoic.normalized


def test_wer_totals_are_corpus_level(wer_result: WerResult) -> None:
    words = sum(u.echoic.counts.words for u in wer_result.utterances)
    errors = sum(u.echoic.counts.errors for u in wer_result.utterances)
    assert wer_result.echoic.counts.words == words
    assert wer_result.echoic.wer == pytest.approx(errors / words)
    assert sum(c.utterances for c in wer_result.corpora) == len(CLIPS)
    assert sum(c.echoic.words for c in wer_result.corpora) == words
    assert wer_result.echoic.audio_s == pytest.approx(11.0 + 1.9 + 2.365)
    assert wer_result.echoic.rtfx > 1.0  # tiny.en runs faster than real time on any CPU we use


def test_wer_report_files(wer_result: WerResult, tmp_path: Path) -> None:
    json_path, png_path = save_report(wer_result, tmp_path / "reports" / "wer.json")
    report = json.loads(json_path.read_text())
    assert report["kind"] == "wer"
    assert report["model"] == "tiny.en"
    assert report["totals"]["echoic"]["wer"] == wer_result.echoic.wer
    assert report["totals"]["plain"]["words"] == wer_result.echoic.counts.words
    assert report["totals"]["hypotheses_differing"] == 0
    assert report["options"]["temperature"] == 0.0
    assert {u["id"] for u in report["utterances"]} == set(CLIPS)
    machine = report["machine"]
    assert machine["cpu_count"] >= 1
    assert machine["compute_type"] == "int8"
    assert machine["beam_size"] == 5
    assert machine["faster_whisper"].startswith("1.")
    assert png_path == tmp_path / "reports" / "wer.png"
    assert png_path.read_bytes()[:8] == PNG_MAGIC
    out = io.StringIO()
    print_report(wer_result, Console(file=out, width=160))
    assert "LJSpeech 1.1" in out.getvalue()
    assert "plain WER" in out.getvalue()


def test_speed_compares_echoic_with_plain_and_batched_with_sequential(
    tiny_bench: LoadedEngine, eval_dir: Path, tmp_path: Path
) -> None:
    jfk = eval_dir / "audio" / "jfk-inaugural-1961.wav"
    options = SpeedOptions(files=(jfk,), throughput_file=jfk, repeats=2, warmup=False)
    runs: list[str] = []
    result = run_speed(tiny_bench, options, on_run=lambda name, _path, _s: runs.append(name))
    assert sorted(runs) == sorted(["echoic", "plain", "echoic_batched", "plain_batched"] * 2)
    (jfk_speed,) = result.files
    assert jfk_speed.duration_s == pytest.approx(11.0)
    assert len(jfk_speed.echoic.times_s) == len(jfk_speed.plain.times_s) == 2
    assert jfk_speed.same_text
    assert jfk_speed.overhead_ratio > 0
    assert jfk_speed.echoic.rtfx == pytest.approx(11.0 / jfk_speed.echoic.median_s)
    throughput = result.throughput
    assert throughput is not None
    assert throughput.echoic_sequential == jfk_speed.echoic  # one measurement, not two
    assert throughput.echoic_speedup > 0
    assert result.peak_rss_after_run_mb >= result.peak_rss_after_load_mb > 0

    json_path, png_path = save_report(result, tmp_path / "speed.json")
    report = json.loads(json_path.read_text())
    assert report["kind"] == "speed"
    assert report["files"][0]["overhead_ratio"] == pytest.approx(jfk_speed.overhead_ratio, 1e-3)
    assert report["throughput"]["plain_batched"]["times_s"]
    assert png_path.read_bytes()[:8] == PNG_MAGIC
