"""The concurrency sweep's arithmetic and verdict (``echoic bench stream --concurrency``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from echoic.bench.stream import StreamBenchOptions
from echoic.bench.stream_metrics import Reference, UtteranceLatency, spread
from echoic.bench.stream_sweep import (
    LevelSummary,
    SweepCriteria,
    SweepOptions,
    Verdict,
    judge,
    largest_holding,
    parse_levels,
    thirds,
)


def row(index: int, final_s: float | None, first_draft_s: float | None = 0.4) -> UtteranceLatency:
    ref = Reference(
        id=f"u{index}", speech_start_s=3.0 * index, speech_end_s=3.0 * index + 2, text="x"
    )
    return UtteranceLatency(
        reference=ref,
        finals=0 if final_s is None else 1,
        utterance_ids=() if final_s is None else (index + 1,),
        text="x",
        first_draft_s=first_draft_s,
        final_s=final_s,
        final_text_s=final_s,
        drafts=1,
        latency_ms={},
    )


def stream(*finals: float | None) -> list[UtteranceLatency]:
    return [row(i, f) for i, f in enumerate(finals)]


def level(
    k: int = 1,
    *,
    final: tuple[float | None, ...] = (0.5,),
    early: tuple[float, ...] = (0.5,),
    late: tuple[float, ...] = (0.5,),
    frames_dropped: int = 0,
    aborted: int = 0,
) -> LevelSummary:
    return LevelSummary(
        k=k,
        utterances=len(final),
        no_final=sum(1 for f in final if f is None),
        no_draft=0,
        final=spread(final),
        first_draft=spread([0.4]),
        early_final=spread(early),
        late_final=spread(late),
        frames_dropped=frames_dropped,
        aborted=aborted,
    )


def test_thirds_are_taken_by_when_the_speech_ended() -> None:
    rows = stream(0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
    first, last = thirds(list(reversed(rows)))
    assert [r.reference.id for r in first] == ["u0", "u1"]
    assert [r.reference.id for r in last] == ["u4", "u5"]


@pytest.mark.parametrize(
    ("n", "size"),
    [(0, 0), (1, 1), (2, 1), (3, 1), (5, 1), (6, 2), (9, 3)],
)
def test_a_third_is_at_least_one_utterance(n: int, size: int) -> None:
    first, last = thirds(stream(*[0.5] * n))
    assert len(first) == len(last) == size


def test_a_level_pools_every_stream_and_splits_each_into_thirds() -> None:
    # Two streams of six utterances; the second falls behind at the end.
    summary = LevelSummary.of(
        2,
        [stream(0.5, 0.5, 0.6, 0.6, 0.6, 0.7), stream(0.5, 0.5, 0.6, 0.6, 1.0, None)],
        frames_dropped=3,
        aborted=1,
    )
    assert summary.k == 2
    assert summary.utterances == 12
    assert summary.no_final == 1
    assert summary.final.n == 11
    assert summary.early_final.n == 4  # u0, u1 of each stream
    assert summary.early_final.p95 == pytest.approx(0.5)
    assert summary.late_final.n == 3  # u4, u5 of each stream, one without a final
    assert summary.late_final.max == pytest.approx(1.0)
    assert summary.growth == pytest.approx(summary.late_final.p95 / 0.5 - 1)  # type: ignore[operator]
    assert (summary.frames_dropped, summary.aborted) == (3, 1)
    data = summary.to_dict()
    assert data["k"] == 2
    assert data["final_s"]["n"] == 11
    assert data["growth"] == pytest.approx(summary.growth, abs=1e-4)


def test_growth_needs_both_thirds() -> None:
    assert level(early=(), late=(0.5,)).growth is None
    assert level(early=(0.4,), late=(0.6,)).growth == pytest.approx(0.5)
    assert level(early=(0.6,), late=(0.3,)).growth == pytest.approx(-0.5)


@pytest.mark.parametrize(
    ("summary", "reasons"),
    [
        (level(), []),
        (level(final=(0.5, 1.5), early=(0.5,), late=(0.64,)), []),  # at the limits: holds
        (level(frames_dropped=4), ["4 audio frames dropped"]),
        (level(k=4, aborted=2), ["2 of 4 streams aborted (overloaded)"]),
        (level(final=(0.5, None)), ["1 of 2 utterances got no final"]),
        (level(final=(0.5, 1.7)), ["final P95 1.64 s > 1.5 s"]),
        (level(final=(None,)), ["1 of 1 utterances got no final", "no final latency measured"]),
        (
            level(early=(0.5,), late=(0.7,)),
            ["final P95 grew +40% from the first to the last third (limit +30%)"],
        ),
        (
            level(final=(2.0, 3.0), early=(2.0,), late=(3.0,), frames_dropped=1),
            [
                "1 audio frames dropped",
                "final P95 2.95 s > 1.5 s",
                "final P95 grew +50% from the first to the last third (limit +30%)",
            ],
        ),
    ],
)
def test_judge(summary: LevelSummary, reasons: list[str]) -> None:
    verdict = judge(summary)
    assert verdict.holds == (not reasons)
    assert list(verdict.reasons) == reasons


def test_judge_with_other_criteria() -> None:
    summary = level(final=(0.9,), early=(0.5,), late=(0.9,))
    assert not judge(summary, SweepCriteria(max_final_p95_s=0.8, max_growth=1.0)).holds
    assert judge(summary, SweepCriteria(max_final_p95_s=1.0, max_growth=0.8)).holds


HOLDS, FAILS = Verdict(holds=True), Verdict(holds=False, reasons=("x",))


@pytest.mark.parametrize(
    ("verdicts", "largest"),
    [
        ([], None),
        ([(1, FAILS)], None),
        ([(1, HOLDS)], 1),
        ([(1, HOLDS), (2, HOLDS), (4, FAILS)], 2),
        ([(4, FAILS), (1, HOLDS), (2, HOLDS)], 2),  # by K, not by the order given
        ([(1, HOLDS), (2, FAILS), (4, HOLDS)], 1),  # a larger K that held by luck does not count
        ([(1, HOLDS), (2, HOLDS), (4, HOLDS), (8, HOLDS)], 8),
    ],
)
def test_largest_holding(verdicts: list[tuple[int, Verdict]], largest: int | None) -> None:
    assert largest_holding(verdicts) == largest


@pytest.mark.parametrize(
    ("text", "levels"),
    [("1,2,4,8", (1, 2, 4, 8)), ("3", (3,)), (" 1, 2 ,", (1, 2))],
)
def test_parse_levels(text: str, levels: tuple[int, ...]) -> None:
    assert parse_levels(text) == levels


@pytest.mark.parametrize("text", ["", "a,b", "0,1", "2,1", "1,1", "-1"])
def test_parse_levels_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="stream counts"):
        parse_levels(text)


def test_sweep_options_are_checked() -> None:
    bench = StreamBenchOptions(sessions=(), models_dir=Path())
    with pytest.raises(ValueError, match="levels"):
        SweepOptions(bench=bench, levels=())
    with pytest.raises(ValueError, match="loops"):
        SweepOptions(bench=bench, loops=0)
