"""``echoic bench stream`` end to end: real tiny.en streaming a real session, in fast mode."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from echoic.bench.stream import StreamBenchOptions, StreamBenchResult, run_stream_bench
from echoic.bench.stream_report import print_stream_table, write_stream_report
from echoic.engines.faster_whisper import DeviceConfig
from echoic.streaming.config import StreamConfig
from echoic.streaming.events import EventType

pytestmark = pytest.mark.slow

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: The one reference of session_01 with long pauses inside it: "Miss Innes, [0.9 s] he said,
#: stopping me … upstairs. [1.2 s] How are your nerves tonight?". Both pauses pass the default
#: 500 ms endpoint, so the stream rightly cuts it into three finals.
PAUSED_REFERENCE = "ls-533-1066-0005"


@pytest.fixture(scope="module")
def result(models_dir: Path, eval_dir: Path) -> StreamBenchResult:
    options = StreamBenchOptions(
        sessions=(eval_dir / "sessions" / "session_01.wav",),
        models_dir=models_dir,
        model="tiny.en",
        realtime=False,
        device=DeviceConfig(device="cpu"),
    )
    return run_stream_bench(options)  # loads the model, and closes it when done


def test_every_reference_utterance_gets_its_final(result: StreamBenchResult) -> None:
    (run,) = result.runs
    assert run.session == "session_01"
    assert [u.reference.id for u in run.utterances][:2] == [
        "ls-1688-142285-0002",
        "ls-367-130732-0004",
    ]
    assert len(run.utterances) == 6
    matches = result.matches
    assert matches.no_final == 0
    assert matches.merged_finals == 0
    assert matches.gap_finals == 0
    assert matches.gap_words == 0
    split = {u.reference.id: u.finals for u in run.utterances if u.finals != 1}
    assert split == {PAUSED_REFERENCE: 3}
    for u in run.utterances:
        assert u.final_s is not None
        assert u.final_text_s is not None
        assert u.final_text_s <= u.final_s
        assert u.latency_ms.keys() == {"stt_ms", "endpoint_ms", "total_ms"}
    said = " ".join(u.text for u in run.utterances).lower()
    assert "a book could be written about this restaurant" in said


def test_streaming_wer_is_close_to_batch(result: StreamBenchResult) -> None:
    streaming, batch = result.streaming_counts, result.batch_counts
    assert batch is not None
    assert streaming.words == batch.words == 87
    assert streaming.wer < 0.2
    assert batch.wer < 0.2
    assert result.penalty == pytest.approx(streaming.wer - batch.wer)


def test_stream_accounting(result: StreamBenchResult) -> None:
    (run,) = result.runs
    assert result.frames_dropped == 0  # a file waits for room instead of dropping
    assert run.audio_s == pytest.approx(37.819, abs=0.01)
    assert run.cpu_s > 0
    assert run.events[-1].type is EventType.END
    finals = [r for r in run.events if r.type is EventType.FINAL]
    assert len(finals) == len(run.spans) == 8
    # Final decodes that ran, discarded speculative ones included (speech resumed after them).
    assert run.scheduler.finals >= 8
    assert len(run.records) == 8  # one latency record per utterance, all "done"
    assert {r["state"] for r in run.records} == {"done"}
    assert result.breakdown("queue_ms").n == 8
    assert result.machine.model == "tiny.en"
    assert result.machine.compute_type == "int8"


def test_stream_report_files(result: StreamBenchResult, tmp_path: Path) -> None:
    json_path, png_path = write_stream_report(
        result, tmp_path / "out" / "stream.json", tmp_path / "out" / "stream.png"
    )
    report = json.loads(json_path.read_text())
    assert report["kind"] == "stream"
    assert report["mode"] == "fast"
    assert report["summary"]["matches"]["references"] == 6
    assert report["summary"]["wer"]["streaming"]["words"] == 87
    rows = report["utterances"]
    assert [r["reference_id"] for r in rows] == [u.reference.id for _, u in result.utterances]
    assert {"session", "speech_start_s", "speech_end_s", "first_draft_s", "final_s"} <= rows[
        0
    ].keys()
    assert {"final_text_s", "text", "reference_text", "queue_ms"} <= rows[0].keys()
    assert report["sessions"][0]["events"][-1]["type"] == "end"
    assert png_path.read_bytes()[:8] == PNG_MAGIC

    console = Console(file=io.StringIO(), width=160)
    print_stream_table(result, console)
    table = console.file.getvalue()  # type: ignore[attr-defined]
    assert "session_01" in table
    assert "final (s after speech end)" in table


def test_a_diarized_bench_labels_the_finals_and_logs_the_speaker_wait(
    models_dir: Path, eval_dir: Path
) -> None:
    session = eval_dir / "sessions" / "session_01.wav"
    options = StreamBenchOptions(
        sessions=(session,),
        models_dir=models_dir,
        model="tiny.en",
        realtime=False,
        device=DeviceConfig(device="cpu"),
        compare_batch=False,
        stream=replace(StreamConfig(), diarization=True),
    )
    (run,) = run_stream_bench(options).runs
    finals = [r.event.data for r in run.events if r.type is EventType.FINAL]
    assert len(finals) >= 6
    # session_01: 1688, 367, 2033, 1688, 533 (three finals), 1688.
    speakers = [f["speaker"] for f in finals]
    assert speakers[:4] == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_02", "SPEAKER_00"]
    assert speakers[-1] == "SPEAKER_00"
    assert all(isinstance(r["speaker_wait_ms"], int) for r in run.records)
