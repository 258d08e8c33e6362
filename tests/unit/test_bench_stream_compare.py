"""Dual-model options and the comparison table of ``echoic bench stream`` (no model needed)."""

from __future__ import annotations

import io
import itertools
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from echoic.bench.machine import machine_info
from echoic.bench.stream import DecodeSettings, SessionFile, StreamBenchOptions
from echoic.bench.stream_compare import (
    COLUMNS,
    DEFAULT_CONFIGS,
    CompareConfig,
    CompareResult,
    CompareRow,
    print_compare_table,
    write_compare_report,
)
from echoic.bench.stream_metrics import (
    Received,
    Reference,
    SendTimes,
    match_counts,
    place_finals,
    utterance_latencies,
)
from echoic.bench.stream_result import BatchRun, SessionRun, StreamBenchResult
from echoic.bench.text import count_errors
from echoic.cli import cli
from echoic.streaming.config import StreamConfig
from echoic.streaming.events import Event, EventType
from echoic.streaming.scheduler import SchedulerStats
from echoic.types import TranscribeOptions

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
OPTIONS = StreamBenchOptions(sessions=(), models_dir=Path())
_seq = itertools.count(1)


# -- options ---------------------------------------------------------------------------------


def test_decode_settings() -> None:
    short = DecodeSettings(beam_size=1, encoder_pad_s=2.0)
    full = DecodeSettings(beam_size=5, encoder_pad_s=None)
    assert short.label == "greedy, window + 2 s"
    assert full.label == "beam 5, 30 s window"
    applied = full.apply(TranscribeOptions(beam_size=1, encoder_pad_s=2.0, language="en"))
    assert (applied.beam_size, applied.encoder_pad_s, applied.language) == (5, None, "en")
    assert DecodeSettings.of(applied) == full
    with pytest.raises(ValueError, match="beam_size"):
        DecodeSettings(beam_size=0, encoder_pad_s=None)
    with pytest.raises(ValueError, match="encoder_pad_s"):
        DecodeSettings(beam_size=1, encoder_pad_s=-1.0)


def test_single_model_keeps_the_stream_config() -> None:
    assert not OPTIONS.dual
    assert OPTIONS.label == OPTIONS.confirming_model == "tiny.en"
    assert OPTIONS.stream_config(None) == StreamConfig()
    assert OPTIONS.stream_config("en") == StreamConfig().with_language("en")
    assert OPTIONS.stream_config(None).confirm_interval_ms is None


def test_dual_model_confirms_at_intervals_with_one_call_per_model() -> None:
    dual = replace(OPTIONS, confirm_model="base")
    assert dual.dual
    assert dual.label == "tiny.en → base"
    assert dual.confirming_model == "base"
    config = dual.stream_config("en")
    assert config.confirm_interval_ms == 1000
    assert config.draft_options.language == config.final_options.language == "en"
    explicit = replace(dual, confirm_interval_ms=None)
    itself = replace(OPTIONS, confirm_model="tiny.en")
    assert itself.dual
    assert explicit.stream_config(None).confirm_interval_ms is None
    with pytest.raises(ValueError, match="confirm_interval_ms"):
        replace(dual, confirm_interval_ms=0)


def test_decode_overrides_reach_the_stream_config() -> None:
    tuned = replace(
        OPTIONS,
        draft=DecodeSettings(beam_size=2, encoder_pad_s=3.0),
        final=DecodeSettings(beam_size=5, encoder_pad_s=None),
    )
    config = tuned.stream_config("en")
    default = StreamConfig()
    assert (config.draft_options.beam_size, config.draft_options.encoder_pad_s) == (2, 3.0)
    assert (config.final_options.beam_size, config.final_options.encoder_pad_s) == (5, None)
    # Everything else of the decodes is the default's.
    assert config.final_options.word_timestamps == default.final_options.word_timestamps
    assert config.draft_options.vad_filter == default.draft_options.vad_filter


def test_the_batch_path_decodes_in_the_stream_language_unless_told() -> None:
    assert OPTIONS.batch_options("en").language == "en"
    assert OPTIONS.batch_options(None).language is None
    assert OPTIONS.batch_options("en").beam_size == 5
    forced = replace(OPTIONS, batch=TranscribeOptions(language="de"))
    assert forced.batch_options("en").language == "de"


def test_the_default_comparison_is_issue_4s() -> None:
    by_key = {c.key: c for c in DEFAULT_CONFIGS}
    assert list(by_key) == ["a", "b", "c", "d", "e"]
    assert (by_key["a"].model, by_key["a"].confirm_model) == ("tiny.en", None)
    assert (by_key["b"].model, by_key["b"].confirm_model) == ("base", None)
    assert (by_key["c"].model, by_key["c"].confirm_model) == ("tiny.en", "base")
    d = by_key["d"].options(OPTIONS)
    assert (d.model, d.confirm_model) == ("tiny.en", "tiny.en")
    config = d.stream_config("en")
    # (d): drafts greedy on a short encoder input; confirmations on the full window, beam 5.
    assert config.draft_options.beam_size == 1
    assert config.draft_options.encoder_pad_s is not None
    assert (config.final_options.beam_size, config.final_options.encoder_pad_s) == (5, None)
    assert by_key["d"].name == "tiny.en → tiny.en (beam 5, 30 s window)"
    # (e): the default speculative pairing, confirming with the live final settings.
    e = by_key["e"].options(OPTIONS)
    assert (e.model, e.confirm_model) == ("tiny.en", "tiny.en")
    assert e.stream_config(None).final_options == StreamConfig().final_options
    assert e.stream_config(None).confirm_interval_ms == 1000
    # Configurations replace what the base options said about models.
    c = by_key["c"].options(replace(OPTIONS, final=DecodeSettings(beam_size=1, encoder_pad_s=1)))
    assert c.final is None
    assert c.realtime == OPTIONS.realtime


def test_a_session_looped(tmp_path: Path) -> None:
    refs = (
        Reference(id="a", speech_start_s=1.0, speech_end_s=2.0, text="one"),
        Reference(id="b", speech_start_s=3.0, speech_end_s=4.0, text="two"),
    )
    session = SessionFile(name="s", audio=tmp_path / "s.wav", references=refs, text="one two")
    assert session.looped(1, 5.0) is session
    twice = session.looped(2, 5.0)
    assert twice.name == "s×2"
    assert [r.id for r in twice.references] == ["a#1", "b#1", "a#2", "b#2"]
    assert [r.speech_start_s for r in twice.references] == [1.0, 3.0, 6.0, 8.0]
    assert twice.references[-1].speech_end_s == 9.0
    assert twice.text == "one two one two"
    with pytest.raises(ValueError, match="times"):
        session.looped(0, 5.0)


# -- the comparison table --------------------------------------------------------------------

REFS = (
    Reference(id="a", speech_start_s=1.0, speech_end_s=3.0, text="hello there"),
    Reference(id="b", speech_start_s=5.0, speech_end_s=8.0, text="how are you"),
)


def ev(at_s: float, type: EventType, **data: Any) -> Received:
    event = Event(type=type, seq=next(_seq), session_id="s", t=at_s, data=data)
    return Received(at_s=at_s, event=event)


def run_of(events: list[Received], *, frames_dropped: int = 0, cpu_s: float = 5.0) -> SessionRun:
    send = SendTimes(chunk_s=0.02)
    spans = place_finals(REFS, events)
    rows = utterance_latencies(REFS, events, send, spans)
    text = " ".join(s.text for s in spans if s.text)
    return SessionRun(
        session="s",
        repeat=0,
        audio_s=10.0,
        realtime=True,
        wall_s=10.0,
        cpu_s=cpu_s,
        events=tuple(events),
        send=send,
        references=REFS,
        spans=tuple(spans),
        utterances=tuple(rows),
        matches=match_counts(rows, spans),
        records=(),
        scheduler=SchedulerStats(),
        frames_dropped=frames_dropped,
        text=text,
        reference_text="hello there how are you",
        counts=count_errors("hello there how are you", text),
    )


def result_of(
    run: SessionRun, batch_text: str | None, confirm_model: str | None
) -> StreamBenchResult:
    batch: tuple[BatchRun, ...] = ()
    if batch_text is not None:
        counts = count_errors(run.reference_text, batch_text)
        batch = (BatchRun(session="s", text=batch_text, seconds=1.0, counts=counts),)
    return StreamBenchResult(
        model="tiny.en",
        confirm_model=confirm_model,
        language="en",
        realtime=True,
        chunk_ms=20,
        stream=StreamConfig(),
        batch_options=TranscribeOptions(),
        machine=machine_info(
            model="tiny.en", device="cpu", compute_type="int8", cpu_threads=1, beam_size=5, load_s=0
        ),
        created_at="2026-11-22T15:00:00+00:00",
        runs=(run,),
        batch=batch,
        peak_rss_mb=100.0,
    )


def final(at_s: float, utterance_id: int, text: str, start_s: float, end_s: float) -> Received:
    return ev(
        at_s,
        EventType.FINAL,
        utterance_id=utterance_id,
        text=text,
        audio_start_s=start_s,
        audio_end_s=end_s,
    )


def partial(at_s: float, utterance_id: int, text: str) -> Received:
    return ev(at_s, EventType.PARTIAL, utterance_id=utterance_id, text=text)


SPECULATIVE = run_of(
    [
        partial(1.4, 1, "hello"),
        final(3.5, 1, "Hello there.", 0.7, 3.1),
        partial(5.6, 2, "how"),
        final(8.7, 2, "How are they?", 4.8, 8.1),
    ],
    frames_dropped=2,
)
SINGLE_MISSING = run_of([partial(1.8, 1, "hollow"), final(3.9, 1, "Hollow there.", 0.7, 3.1)])


def test_a_row_of_the_comparison() -> None:
    config = CompareConfig(key="c", model="tiny.en", confirm_model="base")
    row = CompareRow.of(config, result_of(SPECULATIVE, "hello there how are you", "base"))
    assert row.name == "tiny.en → base"
    assert row.utterances == 2
    assert row.no_final == 0
    assert row.first_draft_p50 == pytest.approx(0.5)  # 0.4 and 0.6 s after the speech onsets
    assert row.first_draft_p95 == pytest.approx(0.59)
    assert row.final_p50 == pytest.approx(0.6)  # 0.5 and 0.7 s after the speech ends
    assert row.final_p95 == pytest.approx(0.69)
    assert row.wer == pytest.approx(1 / 5)  # "they" for "you"
    assert row.batch_wer == 0.0
    assert row.gap == pytest.approx(0.2)
    assert row.cpu_per_audio_s == pytest.approx(0.5)
    assert row.frames_dropped == 2
    cells = row.cells()
    assert len(cells) == len(COLUMNS)
    assert cells == [
        "(c) tiny.en → base",
        "0.500",
        "0.590",
        "0.600",
        "0.690",
        "20.00",
        "0.00",
        "+20.00",
        "0.500",
        "2",
        "2/2",
    ]
    data = row.to_dict()
    assert data["gap_points"] == pytest.approx(20.0)
    assert data["final_s"] == {"p50": 0.6, "p95": 0.69}


def test_a_row_with_missing_finals_and_no_batch() -> None:
    row = CompareRow.of(
        CompareConfig(key="a", model="tiny.en"), result_of(SINGLE_MISSING, None, None)
    )
    assert row.no_final == 1
    assert row.batch_wer is None
    assert row.gap is None
    cells = row.cells()
    assert cells[6:8] == ["–", "–"]
    assert cells[-1] == "1/2"
    assert row.to_dict()["batch_wer_pct"] is None


def test_the_comparison_table_and_report(tmp_path: Path) -> None:
    entries = (
        (CompareConfig(key="a", model="tiny.en"), result_of(SINGLE_MISSING, "hello", None)),
        (
            CompareConfig(key="c", model="tiny.en", confirm_model="base"),
            result_of(SPECULATIVE, "hello there how are you", "base"),
        ),
    )
    result = CompareResult(
        created_at="2026-11-22T15:00:00+00:00", realtime=True, sessions=("s",), entries=entries
    )
    console = Console(file=io.StringIO(), width=220)
    print_compare_table(result, console)
    table = console.file.getvalue()  # type: ignore[attr-defined]
    assert "(a) tiny.en" in table
    assert "(c) tiny.en → base" in table
    assert "+20.00" in table
    json_path, png_path = write_compare_report(result, tmp_path / "c" / "compare.json")
    report = json.loads(json_path.read_text())
    assert report["kind"] == "stream-compare"
    assert [r["key"] for r in report["rows"]] == ["a", "c"]
    assert report["configs"][1]["result"]["confirm_model"] == "base"
    assert report["configs"][1]["result"]["stream_mode"] == "speculative"
    assert png_path == tmp_path / "c" / "compare.png"
    assert png_path.read_bytes()[:8] == PNG_MAGIC


# -- the command line ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--compare", "--concurrency", "1,2"], "give one"),
        (["--compare", "--confirm-model", "base"], "fixed configurations"),
        (["--compare", "-m", "base"], "fixed configurations"),
        (["--compare", "--final-beam", "3"], "fixed configurations"),
        (["--mode", "speculative", "--confirm-model", "base"], "fixed configurations"),
        (["--mode", "speculative", "--concurrency", "1,2"], "give one"),
        (["--mode", "dual"], "'dual' is not one of"),
        (["--concurrency", "2,1"], "must increase"),
        (["--final-pad", "soon"], "neither seconds"),
        (["--draft-pad", "-1"], "neither seconds"),
    ],
)
def test_bench_stream_refuses_bad_combinations(
    args: list[str], message: str, tmp_path: Path
) -> None:
    sessions = tmp_path / "none"
    sessions.mkdir()
    result = CliRunner().invoke(cli, ["bench", "stream", "--sessions", str(sessions), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
