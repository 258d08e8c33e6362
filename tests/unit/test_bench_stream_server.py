"""``echoic bench stream-server``'s pure half: each endpoint's events → timings (no server)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from rich.console import Console

from echoic.bench.machine import machine_info
from echoic.bench.stream import SessionFile
from echoic.bench.stream_clients import (
    RT_PREFIX,
    realtime_open_item,
    realtime_settled,
    resample,
)
from echoic.bench.stream_metrics import Reference, SendTimes
from echoic.bench.stream_result import StreamBenchResult
from echoic.bench.stream_server import (
    ServerStreamOptions,
    ServerStreamResult,
    listen_received,
    realtime_received,
    session_run,
)
from echoic.bench.stream_server_report import (
    print_server_stream_table,
    write_server_stream_report,
)
from echoic.cli.app import cli
from echoic.streaming.config import StreamConfig
from echoic.streaming.events import EventType
from echoic.types import TranscribeOptions

T0 = 100.0  # the monotonic clock when the first chunk left
SESSION = SessionFile(
    name="s",
    audio=Path("s.wav"),
    references=(
        Reference(id="a", speech_start_s=0.5, speech_end_s=2.0, text="hello there"),
        Reference(id="b", speech_start_s=3.0, speech_end_s=4.5, text="general kenobi"),
    ),
    text="hello there general kenobi",
)
REALTIME_SEND = SendTimes(chunk_s=0.02)


def listen_events() -> list[tuple[float, dict[str, Any]]]:
    def ev(at: float, kind: str, **data: Any) -> tuple[float, dict[str, Any]]:
        return T0 + at, {"type": kind, "seq": 1, "session_id": "x", "t": at, **data}

    return [
        ev(0.05, "ready", sample_rate=16000),
        ev(0.7, "speech_started", utterance_id=1, audio_start_s=0.45),
        ev(0.9, "partial", utterance_id=1, text=""),
        ev(1.1, "partial", utterance_id=1, text="hello"),
        ev(2.6, "final", utterance_id=1, text="Hello there.", audio_start_s=0.45,
           audio_end_s=2.1, latency={"stt_ms": 90, "endpoint_ms": 500, "total_ms": 600}),
        ev(3.4, "partial", utterance_id=2, text="general"),
        ev(5.0, "final", utterance_id=2, text="General Kenobi.", audio_start_s=2.9,
           audio_end_s=4.6),
        ev(5.2, "mystery", utterance_id=3),
        ev(5.3, "end", usage={"frames_dropped": 2}),
    ]  # fmt: skip


def realtime_events() -> list[tuple[float, dict[str, Any]]]:
    def ev(at: float, kind: str, **data: Any) -> tuple[float, dict[str, Any]]:
        return T0 + at, {"type": kind, "event_id": "e", **data}

    return [
        ev(0.02, "session.updated", session={}),
        ev(0.7, "input_audio_buffer.speech_started", item_id="i1", audio_start_ms=450),
        ev(1.0, RT_PREFIX + "delta", item_id="i1", delta=""),
        ev(1.3, RT_PREFIX + "delta", item_id="i1", delta="Hello"),
        ev(2.5, "input_audio_buffer.speech_stopped", item_id="i1", audio_end_ms=2100),
        ev(2.5, "input_audio_buffer.committed", item_id="i1", previous_item_id=None),
        ev(2.6, RT_PREFIX + "delta", item_id="i1", delta=" there."),
        ev(2.7, RT_PREFIX + "completed", item_id="i1", transcript="Hello there.",
           usage={"type": "duration", "seconds": 1.65},
           echoic={"latency": {"stt_ms": 80, "endpoint_ms": 500, "total_ms": 610}}),
        ev(3.3, "input_audio_buffer.speech_started", item_id="i2", audio_start_ms=2900),
        ev(3.9, RT_PREFIX + "delta", item_id="i2", delta="General"),
        # the stream ended inside the utterance: a commit finalized it, no speech_stopped
        ev(4.9, "input_audio_buffer.committed", item_id="i2", previous_item_id="i1"),
        ev(5.1, RT_PREFIX + "completed", item_id="i2", transcript="General Kenobi.",
           usage={"type": "duration", "seconds": 1.7}),
        ev(5.2, "error", error={"code": "boom", "message": "no"}),
    ]  # fmt: skip


def test_listen_events_keep_their_types_and_arrival() -> None:
    received = listen_received(listen_events(), T0)
    assert [r.type for r in received][:3] == [
        EventType.READY,
        EventType.SPEECH_STARTED,
        EventType.PARTIAL,
    ]
    assert len(received) == 8  # the unknown type is skipped
    final = received[4]
    assert final.at_s == pytest.approx(2.6)
    assert final.utterance_id == 1
    assert final.text == "Hello there."
    assert "type" not in final.event.data
    assert final.event.data["audio_end_s"] == 2.1


def test_listen_run_latencies() -> None:
    received = listen_received(listen_events(), T0)
    run = session_run(SESSION, 5.0, received, SendTimes(chunk_s=0.02))
    first, second = run.utterances
    assert first.first_draft_s == pytest.approx(1.1 - 0.5)  # the empty partial does not count
    assert first.final_s == pytest.approx(2.6 - 2.0)
    assert second.first_draft_s == pytest.approx(3.4 - 3.0)
    assert second.final_s == pytest.approx(5.0 - 4.5)
    assert run.matches.one_final == 2
    assert run.matches.no_final == 0
    assert run.text == "Hello there. General Kenobi."
    assert run.counts.wer == 0.0
    assert run.frames_dropped == 2
    assert run.wall_s == pytest.approx(5.3)


def test_realtime_events_become_echoic_events() -> None:
    received = realtime_received(realtime_events(), T0)
    kinds = [(r.type, r.utterance_id) for r in received]
    assert kinds == [
        (EventType.SPEECH_STARTED, 1),
        (EventType.PARTIAL, 1),
        (EventType.SPEECH_ENDED, 1),
        (EventType.PARTIAL, 1),
        (EventType.FINAL, 1),
        (EventType.SPEECH_STARTED, 2),
        (EventType.PARTIAL, 2),
        (EventType.FINAL, 2),
        (EventType.ERROR, None),
    ]
    partials = [r.text for r in received if r.type is EventType.PARTIAL]
    assert partials == ["Hello", "Hello there.", "General"]  # deltas joined so far
    finals = [r for r in received if r.type is EventType.FINAL]
    assert finals[0].event.data["audio_start_s"] == pytest.approx(0.45)
    assert finals[0].event.data["audio_end_s"] == pytest.approx(2.1)
    assert finals[0].event.data["latency"]["stt_ms"] == 80
    # no speech_stopped: the end is the start plus the item's audio seconds
    assert finals[1].event.data["audio_end_s"] == pytest.approx(2.9 + 1.7)
    assert received[-1].event.data["code"] == "boom"


def test_realtime_run_latencies_use_the_same_metrics() -> None:
    run = session_run(SESSION, 5.0, realtime_received(realtime_events(), T0), REALTIME_SEND)
    first, second = run.utterances
    assert first.first_draft_s == pytest.approx(1.3 - 0.5)
    assert first.final_s == pytest.approx(2.7 - 2.0)
    assert first.final_text_s == pytest.approx(2.6 - 2.0)  # the delta that completed the text
    assert first.latency_ms["stt_ms"] == 80
    assert second.first_draft_s == pytest.approx(3.9 - 3.0)
    assert second.final_s == pytest.approx(5.1 - 4.5)
    assert run.matches.one_final == 2
    assert run.counts.wer == 0.0


def test_send_times_of_a_late_chunk_count() -> None:
    send = SendTimes(chunk_s=0.5, chunk_sent_s=(0.0, 0.5, 1.0, 1.5, 2.2, 2.5, 3.0, 3.5, 4.0, 4.5))
    run = session_run(SESSION, 5.0, listen_received(listen_events(), T0), send)
    assert run.utterances[0].final_s == pytest.approx(2.6 - 2.2)  # 2.0 s of audio left at 2.2


def test_realtime_settling() -> None:
    messages = [m for _, m in realtime_events()]
    assert realtime_settled(messages)
    assert not realtime_open_item(messages)
    open_one = messages[:9]  # i2's speech started, nothing committed it
    assert realtime_open_item(open_one)
    assert not realtime_settled(open_one)
    assert not realtime_settled(messages[:6])  # i1 committed, not completed


def test_resample_to_24k_keeps_length_and_tone() -> None:
    t = np.arange(16_000) / 16_000
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    out = resample(tone, 24_000)
    assert out.dtype == np.float32
    assert abs(len(out) - 24_000) <= 32
    spectrum = np.abs(np.fft.rfft(out[:24_000]))
    assert abs(int(np.argmax(spectrum)) * 24_000 / len(out[:24_000]) - 440) < 3


def test_options_reject_unknown_endpoints() -> None:
    with pytest.raises(ValueError, match="via"):
        ServerStreamOptions(sessions=(Path("x"),), via=("listen", "grpc"))
    with pytest.raises(ValueError, match="via"):
        ServerStreamOptions(sessions=(Path("x"),), via=())


def test_cli_rejects_an_unknown_endpoint(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["bench", "stream-server", "--sessions", str(tmp_path), "--via", "listen,nope"]
    )
    assert result.exit_code != 0
    assert "--via" in result.output


def test_report_table_json_and_png(tmp_path: Path) -> None:
    machine = machine_info(
        model="tiny.en", device="cpu", compute_type="int8", cpu_threads=1, beam_size=5, load_s=0
    )
    runs = {
        "listen": session_run(SESSION, 5.0, listen_received(listen_events(), T0), REALTIME_SEND),
        "realtime": session_run(
            SESSION, 5.0, realtime_received(realtime_events(), T0), REALTIME_SEND
        ),
    }
    result = ServerStreamResult(
        model="tiny.en",
        chunk_ms=20,
        created_at="now",
        results={
            via: StreamBenchResult(
                model="tiny.en",
                realtime=True,
                chunk_ms=20,
                stream=StreamConfig(),
                batch_options=TranscribeOptions(),
                machine=machine,
                created_at="now",
                runs=(run,),
                batch=(),
                peak_rss_mb=1.0,
            )
            for via, run in runs.items()
        },
    )
    out = io.StringIO()
    print_server_stream_table(result, Console(file=out, width=200))
    table = out.getvalue()
    assert "/v1/listen" in table
    assert "/v1/realtime" in table
    assert "0.850" in table  # realtime first draft P50 (0.8 and 0.9 s)
    json_path, png_path = write_server_stream_report(result, tmp_path / "r.json")
    report = json.loads(json_path.read_text())
    assert report["kind"] == "stream-server"
    summary = report["endpoints"]["/v1/realtime"]["summary"]
    assert summary["matches"]["one_final"] == 2
    assert summary["latency_s"]["final_s"]["p50"] == pytest.approx(0.65)
    assert png_path.read_bytes().startswith(b"\x89PNG")
