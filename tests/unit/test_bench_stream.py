"""The arithmetic of ``echoic bench stream`` on hand-made events (EVAL.md, Streaming latency)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from echoic.bench.stream import StreamBenchOptions, session_files
from echoic.bench.stream_metrics import (
    MatchCounts,
    Received,
    Reference,
    SendTimes,
    gap_finals,
    match_counts,
    place_finals,
    spread,
    utterance_latencies,
)
from echoic.streaming.events import Event, EventType

REALTIME = SendTimes(chunk_s=0.02)
REFS = (
    Reference(id="a", speech_start_s=1.0, speech_end_s=3.0, text="hello there"),
    Reference(id="b", speech_start_s=5.0, speech_end_s=8.0, text="how are you"),
)
_seq = itertools.count(1)


def ev(at_s: float, type: EventType, **data: Any) -> Received:
    event = Event(type=type, seq=next(_seq), session_id="s", t=at_s, data=data)
    return Received(at_s=at_s, event=event)


def partial(at_s: float, utterance_id: int, text: str) -> Received:
    return ev(at_s, EventType.PARTIAL, utterance_id=utterance_id, text=text)


def final(
    at_s: float, utterance_id: int, text: str, start_s: float, end_s: float, **latency: int
) -> Received:
    return ev(
        at_s,
        EventType.FINAL,
        utterance_id=utterance_id,
        text=text,
        audio_start_s=start_s,
        audio_end_s=end_s,
        latency=latency or {"stt_ms": 200, "endpoint_ms": 500, "total_ms": 600},
    )


def test_each_final_goes_to_the_reference_it_overlaps_most() -> None:
    events = [
        final(3.7, 1, "Hello there.", 0.7, 3.1),
        # Spans both references, mostly the second: merged, attributed to "b".
        final(8.6, 2, "You how are you?", 2.5, 8.1),
        final(10.0, 3, "Thank you.", 9.0, 9.8),  # in the trailing silence
    ]
    spans = place_finals(REFS, events)
    assert [s.reference for s in spans] == [0, 1, None]
    assert [s.overlapped for s in spans] == [1, 2, 0]


def test_an_equal_overlap_goes_to_the_earlier_reference() -> None:
    refs = (
        Reference(id="a", speech_start_s=0.0, speech_end_s=1.0, text="x"),
        Reference(id="b", speech_start_s=2.0, speech_end_s=3.0, text="y"),
    )
    (span,) = place_finals(refs, [final(4.0, 1, "x y", 0.5, 2.5)])
    assert span.reference == 0


def test_a_final_that_only_touches_a_reference_does_not_match_it() -> None:
    (span,) = place_finals(REFS, [final(4.0, 1, "uh", 3.0, 3.5)])
    assert span.reference is None


def test_latencies_of_one_utterance_in_real_time() -> None:
    events = [
        ev(1.1, EventType.SPEECH_STARTED, utterance_id=1, audio_start_s=0.7),
        partial(1.5, 1, ""),  # an empty draft does not count as the first draft
        partial(1.8, 1, "Hello"),
        partial(2.6, 1, "Hello there."),  # already the final text
        partial(2.9, 1, "Hello there, sir"),
        final(3.45, 1, "Hello there.", 0.7, 3.1, stt_ms=150, endpoint_ms=400, total_ms=450),
    ]
    (row, missing) = utterance_latencies(REFS, events, REALTIME)
    assert row.reference.id == "a"
    assert row.finals == 1
    assert row.utterance_ids == (1,)
    assert row.first_draft_s == pytest.approx(0.8)  # 1.8 − speech_start 1.0
    assert row.final_s == pytest.approx(0.45)  # 3.45 − speech_end 3.0
    assert row.final_text_s == pytest.approx(-0.4)  # a draft carried it before the speech ended
    assert row.drafts == 3
    assert row.text == "Hello there."
    assert row.latency_ms == {"stt_ms": 150, "endpoint_ms": 400, "total_ms": 450}
    # The second reference got nothing.
    assert missing.finals == 0
    assert (missing.first_draft_s, missing.final_s, missing.final_text_s) == (None, None, None)
    assert missing.text == ""


def test_final_text_latency_is_the_final_itself_when_no_draft_had_its_text() -> None:
    events = [partial(2.0, 1, "hollow"), final(3.6, 1, "Hello there.", 0.7, 3.1)]
    row = utterance_latencies(REFS, events, REALTIME)[0]
    assert row.final_s == pytest.approx(0.6)
    assert row.final_text_s == row.final_s


def test_drafts_of_another_utterance_do_not_count() -> None:
    events = [
        partial(0.2, 7, "noise"),  # an utterance whose final landed in a gap
        final(0.5, 7, "", 0.0, 0.4),
        partial(2.0, 1, "Hello"),
        final(3.6, 1, "Hello there.", 0.7, 3.1),
    ]
    row = utterance_latencies(REFS, events, REALTIME)[0]
    assert row.first_draft_s == pytest.approx(1.0)
    assert row.drafts == 1


def test_a_split_utterance_is_settled_by_its_last_final() -> None:
    events = [
        partial(5.8, 2, "How"),
        final(6.9, 2, "How are", 4.8, 6.3),
        partial(7.5, 3, "you"),
        final(8.7, 3, "you?", 6.6, 8.1, stt_ms=90, endpoint_ms=500, total_ms=600),
    ]
    row = utterance_latencies(REFS, events, REALTIME)[1]
    assert row.finals == 2
    assert row.utterance_ids == (2, 3)
    assert row.text == "How are you?"
    assert row.first_draft_s == pytest.approx(0.8)
    assert row.final_s == pytest.approx(0.7)
    assert row.final_text_s == pytest.approx(0.7)
    assert row.latency_ms["stt_ms"] == 90  # from the last final


def test_fast_mode_counts_from_when_the_chunk_was_actually_sent() -> None:
    # Chunks of 1 s sent every 0.1 s: audio second 3 left at 0.3 s after t0.
    send = SendTimes(chunk_s=1.0, chunk_sent_s=tuple(i / 10 for i in range(10)))
    events = [partial(0.25, 1, "Hello"), final(0.55, 1, "Hello there.", 0.7, 3.1)]
    row = utterance_latencies(REFS, events, send)[0]
    assert row.first_draft_s == pytest.approx(0.25 - 0.1)
    assert row.final_s == pytest.approx(0.55 - 0.3)
    assert send.sent_at(42.0) == pytest.approx(0.9)  # past the end: the last chunk


def test_gap_words_are_counted_after_normalization() -> None:
    events = [
        final(0.4, 1, "Thank you.", 0.0, 0.3),
        final(3.4, 2, "Hello there.", 0.7, 3.1),
        final(4.5, 3, "...", 3.6, 4.1),  # punctuation only: no word
        final(9.5, 4, "Mr. Smith has 2 dogs", 8.5, 9.2),
    ]
    spans = place_finals(REFS, events)
    gaps = gap_finals(spans)
    assert [s.received.utterance_id for s in gaps] == [1, 4]
    rows = utterance_latencies(REFS, events, REALTIME, spans)
    counts = match_counts(rows, spans)
    assert counts == MatchCounts(
        references=2, one_final=1, no_final=1, several_finals=0, gap_finals=2, gap_words=7
    )


def test_match_counts_add_up_across_sessions() -> None:
    one = MatchCounts(references=2, one_final=1, no_final=1, gap_finals=1, gap_words=3)
    two = MatchCounts(references=3, one_final=2, several_finals=1, merged_finals=1)
    assert one + two == MatchCounts(
        references=5,
        one_final=3,
        no_final=1,
        several_finals=1,
        merged_finals=1,
        gap_finals=1,
        gap_words=3,
    )


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1.0, 2.0, 3.0, 4.0], (4, 2.5, 3.85, 4.0)),  # linear interpolation, as numpy does
        ([0.5], (1, 0.5, 0.5, 0.5)),
        ([None, 2.0, None, 0.0], (2, 1.0, 1.9, 2.0)),  # utterances without an event are skipped
        ([float(v) for v in range(101)], (101, 50.0, 95.0, 100.0)),
    ],
)
def test_spread(values: list[float | None], expected: tuple[int, float, float, float]) -> None:
    result = spread(values)
    assert (result.n, result.p50, result.p95, result.max) == pytest.approx(expected)


def test_spread_of_nothing() -> None:
    result = spread([None])
    assert (result.n, result.p50, result.p95, result.max) == (0, None, None, None)
    assert result.to_dict() == {"n": 0, "p50": None, "p95": None, "max": None}


def test_received_to_dict_drops_word_timings() -> None:
    received = ev(1.23456, EventType.FINAL, utterance_id=1, text="x", words=[{"word": "x"}])
    out = received.to_dict()
    assert out["at_s"] == 1.2346
    assert out["type"] == "final"
    assert "words" not in out


def _session(directory: Path, name: str, meta: dict[str, Any]) -> Path:
    wav = directory / f"{name}.wav"
    wav.write_bytes(b"")  # never decoded here
    (directory / f"{name}.json").write_text(json.dumps(meta))
    return wav


def test_session_files_read_the_sidecars(tmp_path: Path) -> None:
    segment = {"id": "u1", "speech_start_s": 0.5, "speech_end_s": 1.5, "text": "HELLO"}
    _session(tmp_path, "session_02", {"segments": [segment, {**segment, "id": "u2"}]})
    _session(tmp_path, "session_01", {"text": "THE WHOLE TEXT", "segments": [segment]})
    (tmp_path / "stray.wav").write_bytes(b"")  # no sidecar: not a session
    first, second = session_files((tmp_path,))
    assert (first.name, second.name) == ("session_01", "session_02")
    assert first.text == "THE WHOLE TEXT"
    assert second.text == "HELLO HELLO"  # no top-level text: the segments joined
    assert second.references[1] == Reference(
        id="u2", speech_start_s=0.5, speech_end_s=1.5, text="HELLO"
    )


def test_session_files_name_a_bad_sidecar(tmp_path: Path) -> None:
    wav = _session(tmp_path, "broken", {"segments": [{"id": "u1"}]})
    with pytest.raises(ValueError, match=r"broken\.json: not a session sidecar"):
        session_files((wav,))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no session"):
        session_files((tmp_path / "empty",))


def test_stream_bench_options_are_checked() -> None:
    with pytest.raises(ValueError, match="chunk_ms"):
        StreamBenchOptions(sessions=(), models_dir=Path(), chunk_ms=0)
    with pytest.raises(ValueError, match="repeat"):
        StreamBenchOptions(sessions=(), models_dir=Path(), repeat=0)
