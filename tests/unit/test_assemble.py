"""Assembled live-benchmark sessions on synthetic audio: the split, the placement arithmetic,
the speech edges, where pauses are cut, and builds that give the same bytes twice."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import numpy as np
import pytest

from echoic.audio.pcm import float32_to_wav
from echoic.bench.assemble import AssembleOptions, build_sessions, pick, session_sizes
from echoic.bench.manifest import Utterance
from echoic.bench.pauses import (
    Cut,
    TimedWord,
    candidate_cuts,
    choose_cuts,
    insert_pauses,
    shifted,
)
from echoic.bench.session_layout import Background, Clip, lay_out, noise_bed, render
from echoic.bench.session_split import Part, dev_session_ids, split_parts, split_rank
from echoic.bench.speech_edges import frame_levels_db, speech_edges
from echoic.bench.stream import SessionFile
from echoic.types import SAMPLE_RATE, Audio

SR = SAMPLE_RATE


def utt(uid: str, subset: str = "librispeech", speaker: str = "s1", text: str = "") -> Utterance:
    return Utterance(
        id=uid,
        audio=Path(f"/nowhere/{uid}.wav"),
        text=text or f"TEXT OF {uid}",
        duration_s=1.0,
        subset=subset,
        speaker=speaker,
    )


def spoken(spans_s: list[tuple[float, float]], length_s: float, seed: int = 0) -> Audio:
    """A room at −60 dBFS with "speech" (noise at about −20 dBFS) over ``spans_s``."""
    rng = np.random.default_rng(seed)
    audio = (rng.standard_normal(round(length_s * SR)) * 1e-3).astype(np.float32)
    for start, end in spans_s:
        a, b = round(start * SR), round(end * SR)
        audio[a:b] += (rng.standard_normal(b - a) * 0.1).astype(np.float32)
    return audio


# --- the split ---------------------------------------------------------------------------


def test_split_halves_each_speaker_and_keeps_dev_session_utterances_for_tuning() -> None:
    group_a = [utt(f"a{i}", speaker="A") for i in range(10)]
    group_b = [utt(f"b{i}", speaker="B") for i in range(5)]
    lj = [utt(f"lj{i}", subset="ljspeech", speaker="LJ") for i in range(7)]
    everyone = group_a + group_b + lj
    parts = split_parts(everyone, held_in={"a0", "a1", "a2", "lj3"})
    assert set(parts) == {u.id for u in everyone}
    for group, reported in [(group_a, 5), (group_b, 3), (lj, 4)]:
        assert sum(parts[u.id] is Part.REPORT for u in group) == reported
    assert all(parts[i] is Part.TUNE for i in ("a0", "a1", "a2", "lj3"))
    # The report half is the first by the hash of the id, among the others.
    free_a = sorted((u.id for u in group_a[3:]), key=split_rank)
    assert set(free_a[:5]) == {u.id for u in group_a if parts[u.id] is Part.REPORT}


def test_split_does_not_depend_on_the_manifest_order() -> None:
    everyone = [utt(f"u{i}", speaker=f"s{i % 3}") for i in range(30)]
    shuffled = everyone[:]
    random.Random(4).shuffle(shuffled)
    assert split_parts(everyone, {"u1"}) == split_parts(shuffled, {"u1"})


def test_a_group_held_in_entirely_reports_nothing() -> None:
    parts = split_parts([utt("jfk", speaker="jfk")], held_in={"jfk"})
    assert parts == {"jfk": Part.TUNE}


def test_dev_sessions_are_matched_by_id_or_by_text(tmp_path: Path) -> None:
    utterances = [utt("x1", text="Hello, there!"), utt("x2", text="Other words"), utt("x3")]
    segments = [
        {"id": "x1", "text": "hello there"},
        {"id": "renamed", "text": "OTHER WORDS."},
        {"id": "elsewhere", "text": "not in the manifest"},
    ]
    (tmp_path / "session_01.json").write_text(json.dumps({"segments": segments}))
    assert dev_session_ids(tmp_path, utterances) == {"x1", "x2"}
    assert dev_session_ids(tmp_path / "missing", utterances) == frozenset()
    bad = [{"id": "x3", "text": "something else"}]
    (tmp_path / "session_02.json").write_text(json.dumps({"segments": bad}))
    with pytest.raises(ValueError, match="x3 has another text"):
        dev_session_ids(tmp_path, utterances)


# --- placement -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "most", "sizes"),
    [(20, 8, [7, 7, 6]), (16, 8, [8, 8]), (5, 8, [5]), (37, 8, [8, 8, 7, 7, 7]), (0, 8, [])],
)
def test_session_sizes(total: int, most: int, sizes: list[int]) -> None:
    assert session_sizes(total, most) == sizes


def clip(uid: str, length: int, speech: tuple[int, int]) -> Clip:
    audio = np.full(length, 0.01, dtype=np.float32)
    audio[speech[0] : speech[1]] = 0.5
    return Clip(utterance=utt(uid), audio=audio, speech_start=speech[0], speech_end=speech[1])


def test_gaps_run_from_speech_end_to_the_next_speech_start() -> None:
    clips = [
        clip("a", 30_000, (8_000, 24_000)),  # 0.5 s of room before, 0.375 s after
        clip("b", 20_000, (0, 19_000)),  # speech from the first sample
        clip("c", 40_000, (2_000, 39_990)),
    ]
    gaps = [16_000, 9_600]
    placements, total = lay_out(clips, gaps, lead=8_000, tail=24_000, edge=3_200)
    a, b, c = placements
    assert a.speech_start == 8_000
    assert b.speech_start - a.speech_end == 16_000
    assert c.speech_start - b.speech_end == 9_600
    assert total == c.speech_end + 24_000
    assert (a.keep_first, a.keep_end) == (8_000 - 3_200, 24_000 + 3_200)  # edge-limited
    assert (b.keep_first, b.keep_end) == (0, 20_000)  # the file had less
    assert c.keep_first == 2_000 - 2_000  # at most what it has
    for left, right in itertools.pairwise(placements):
        assert left.end <= right.at
    audio = render(placements, total, None)
    assert len(audio) == total
    assert not audio[: a.at].any()
    assert not audio[a.end : b.at].any()
    assert audio[a.speech_start : a.speech_end].min() == pytest.approx(0.5)
    assert audio[a.at] == 0.0  # trimmed: faded in from zero


def test_a_short_gap_shares_itself_between_the_two_clips() -> None:
    clips = [clip("a", 30_000, (8_000, 20_000)), clip("b", 30_000, (8_000, 20_000))]
    placements, _ = lay_out(clips, [1_000], lead=8_000, tail=8_000, edge=3_200)
    assert placements[0].keep_end - placements[0].clip.speech_end == 500
    assert placements[1].clip.speech_start - placements[1].keep_first == 500
    assert placements[0].end == placements[1].at


@pytest.mark.parametrize(
    ("text", "dbfs", "label"),
    [("silence", None, "silence"), ("noise-50dBFS", -50.0, "noise-50dBFS"),
     ("Noise-45.5dbfs", -45.5, "noise-45.5dBFS")],
)  # fmt: skip
def test_background_parse(text: str, dbfs: float | None, label: str) -> None:
    background = Background.parse(text)
    assert background.noise_dbfs == dbfs
    assert background.label == label


def test_background_parse_refuses_anything_else() -> None:
    with pytest.raises(ValueError, match="noise-50dBFS"):
        Background.parse("rain")


def test_noise_bed_has_its_level_and_its_seed() -> None:
    bed = noise_bed(SR * 3, -50.0, np.random.default_rng(1))
    rms_db = 20 * np.log10(np.sqrt(np.mean(bed.astype(np.float64) ** 2)))
    assert rms_db == pytest.approx(-50.0, abs=0.01)
    assert np.array_equal(bed, noise_bed(SR * 3, -50.0, np.random.default_rng(1)))
    assert not np.array_equal(bed, noise_bed(SR * 3, -50.0, np.random.default_rng(2)))
    spectrum = np.abs(np.fft.rfft(bed)) ** 2
    low, high = spectrum[100:1000].mean(), spectrum[10_000:20_000].mean()
    assert low > 10 * high  # pink: most of the power low


# --- speech edges --------------------------------------------------------------------------


def test_speech_edges_find_the_speech_within_a_frame() -> None:
    audio = spoken([(0.412, 1.0), (1.3, 2.237)], 3.0)
    edges = speech_edges(audio)
    assert edges.start_s == pytest.approx(0.412, abs=0.011)
    assert edges.end_s == pytest.approx(2.237, abs=0.011)


def test_a_click_is_not_speech() -> None:
    audio = spoken([(0.2, 0.23), (0.8, 1.5)], 2.0)  # a 30 ms click, then speech
    assert speech_edges(audio).start_s == pytest.approx(0.8, abs=0.011)


def test_silence_has_no_speech() -> None:
    with pytest.raises(ValueError, match="no speech"):
        speech_edges(np.zeros(SR, dtype=np.float32))


# --- mid-sentence pauses -------------------------------------------------------------------

#: Six "words"; the reader pauses 300 ms after the third (a comma) and 120 ms after the fifth.
WORD_SPANS = [(0.3, 0.7), (0.72, 1.2), (1.22, 1.6), (1.9, 2.4), (2.42, 2.9), (3.02, 3.6)]


def words(shift_s: float = 0.0) -> list[TimedWord]:
    labels = ["one", "two", "three,", "four", "five", "six."]
    # A recognizer puts its boundaries a little off the true ones.
    return [
        TimedWord(word=f" {w}", start_s=s + shift_s, end_s=e + shift_s)
        for w, (s, e) in zip(labels, WORD_SPANS, strict=True)
    ]


def cuts_of(audio: Audio, timed: list[TimedWord], min_side_s: float) -> list[Cut]:
    edges = speech_edges(audio)
    return candidate_cuts(
        timed,
        frame_levels_db(audio),
        edges.threshold_db,
        speech_start_s=edges.start_s,
        speech_end_s=edges.end_s,
        min_side_s=min_side_s,
    )


def test_a_cut_goes_to_the_quietest_frame_near_the_boundary() -> None:
    audio = spoken(WORD_SPANS, 4.0)
    for shift in (0.0, 0.06, -0.06):
        candidates = cuts_of(audio, words(shift), min_side_s=0.5)
        by_word = {c.word: c for c in candidates}
        assert 1.6 < by_word["three,"].at_s < 1.9  # inside the reader's pause
        assert by_word["three,"].quiet_s == pytest.approx(0.29, abs=0.02)
        assert by_word["three,"].punctuated
        assert 2.9 < by_word["five"].at_s < 3.02


def test_cuts_keep_speech_on_either_side() -> None:
    audio = spoken(WORD_SPANS, 4.0)
    candidates = cuts_of(audio, words(), min_side_s=1.0)
    # Speech runs 0.3–3.6 s: only boundaries 1.3–2.6 s qualify.
    assert [c.word for c in candidates] == ["three,", "four"]
    assert cuts_of(audio, words(), min_side_s=2.0) == []


def test_words_that_run_into_each_other_are_not_opened() -> None:
    joined = [(0.3, 0.7), (0.72, 1.2), (1.22, 1.9), (1.9, 2.4), (2.42, 2.9), (3.02, 3.6)]
    audio = spoken(joined, 4.0)  # "three" runs into "four": no quiet frame between them
    assert [c.word for c in cuts_of(audio, words(), min_side_s=1.0)] == ["four"]


def test_the_longest_pause_wins_and_chosen_cuts_stay_apart() -> None:
    def cut(after: int, at_s: float, quiet_s: float, punctuated: bool = False) -> Cut:
        return Cut(
            after=after,
            word=f"w{after}",
            at=round(at_s * SR),
            quiet_s=quiet_s,
            level_db=-60.0,
            punctuated=punctuated,
        )

    candidates = [
        cut(0, 1.0, 0.05),
        cut(1, 1.5, 0.30),
        cut(2, 2.0, 0.15, punctuated=True),  # 0.15 + 0.2 for the comma beats 0.30
        cut(3, 3.2, 0.10),
        cut(4, 4.5, 0.25),
    ]
    assert [c.after for c in choose_cuts(candidates, 1, min_side_s=1.0)] == [2]
    # 2 first, then 1 (0.5 s from 2: too close), so 4.
    assert [c.after for c in choose_cuts(candidates, 2, min_side_s=1.0)] == [2, 4]
    # Then 3 (1.2 s and 1.3 s from the others) before 0 (the shortest pause).
    assert [c.after for c in choose_cuts(candidates, 3, min_side_s=1.0)] == [2, 3, 4]
    assert [c.after for c in choose_cuts(candidates, 9, min_side_s=1.0)] == [0, 2, 3, 4]
    assert choose_cuts([], 2, min_side_s=1.0) == []


def test_pauses_go_in_as_silence_and_shift_what_follows() -> None:
    audio = np.ones(10_000, dtype=np.float32)
    opened, spans = insert_pauses(audio, [2_000, 7_000], [500, 1_000])
    assert len(opened) == 11_500
    assert spans == [(2_000, 2_500), (7_500, 8_500)]
    assert not opened[2_000:2_500].any()
    assert not opened[7_500:8_500].any()
    assert opened[1_000] == 1.0
    assert opened[5_000] == 1.0
    assert opened[11_000] == 1.0
    assert 0 < opened[1_999] < 0.05
    assert 0 < opened[2_500] < 0.05
    assert [shifted(s, spans) for s in (0, 1_999, 2_000, 6_999, 7_000, 9_999)] == [
        0, 1_999, 2_500, 7_499, 8_500, 11_499,
    ]  # fmt: skip
    with pytest.raises(ValueError, match="ascending"):
        insert_pauses(audio, [7_000, 2_000], [500, 500])


# --- whole builds --------------------------------------------------------------------------


def manifest(tmp_path: Path, count: int = 7) -> Path:
    """A manifest of ``count`` synthetic utterances: the WORD_SPANS speech, shifted a little."""
    (tmp_path / "audio").mkdir()
    lines = []
    for i in range(count):
        delay = 0.05 * i
        spans = [(s + delay, e + delay) for s, e in WORD_SPANS]
        (tmp_path / "audio" / f"u{i}.wav").write_bytes(float32_to_wav(spoken(spans, 4.5, seed=i)))
        row = {
            "id": f"u{i}",
            "audio": f"audio/u{i}.wav",
            "text": f"ONE TWO THREE FOUR FIVE SIX {i}",
            "text_norm": f"one two three four five six {i}",
            "duration_s": 4.5,
            "speaker": f"s{i % 2}",
            "corpus": "Synthetic",
            "subset": "synthetic",
            "source": f"nowhere:u{i}",
        }
        lines.append(json.dumps(row))
    path = tmp_path / "manifest.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def fake_aligner(utterance: Utterance, audio: Audio) -> list[TimedWord]:
    delay = 0.05 * int(utterance.id[1:])
    return words(delay + 0.03)


def read_build(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@pytest.mark.parametrize("pauses", [None, (0.6, 1.2)])
def test_a_build_gives_the_same_bytes_for_the_same_arguments(
    tmp_path: Path, pauses: tuple[float, float] | None
) -> None:
    options = AssembleOptions(
        manifest=manifest(tmp_path),
        seed=3,
        per_session=4,
        background=Background.parse("noise-50dBFS"),
        pauses_s=pauses,
    )
    first = build_sessions(options, tmp_path / "one", aligner=fake_aligner)
    build_sessions(options, tmp_path / "two", aligner=fake_aligner)
    assert read_build(tmp_path / "one") == read_build(tmp_path / "two")
    assert [p.name for p in first.sessions] == ["session_01.wav", "session_02.wav"]
    assert first.utterances == 7
    other = AssembleOptions(**{**options.__dict__, "seed": 4})
    build_sessions(other, tmp_path / "three", aligner=fake_aligner)
    assert read_build(tmp_path / "three") != read_build(tmp_path / "one")


def test_the_sidecars_are_what_bench_stream_reads(tmp_path: Path) -> None:
    options = AssembleOptions(manifest=manifest(tmp_path), seed=1, gap_s=(0.8, 0.8))
    result = build_sessions(options, tmp_path / "out")
    (wav,) = result.sessions
    session = SessionFile.load(wav)
    meta = json.loads(wav.with_suffix(".json").read_text())
    assert [r.id for r in session.references] == [s["id"] for s in meta["segments"]]
    assert sorted(r.id for r in session.references) == [f"u{i}" for i in range(7)]
    assert meta["gap_range_s"] == [0.8, 0.8]
    assert meta["background"] == "digital silence"
    audio = np.frombuffer(wav.read_bytes()[44:], dtype="<i2")
    assert len(audio) == round(meta["duration_s"] * SR)
    assert session.references[0].speech_start_s == pytest.approx(0.5)
    for left, right in zip(session.references, session.references[1:], strict=False):
        assert right.speech_start_s - left.speech_end_s == pytest.approx(0.8, abs=1e-4)
    for segment in meta["segments"]:
        # The synthetic speech starts 0.3 s + 0.05 s × i into its file: the edges are exact.
        delay = 0.05 * int(segment["id"][1:])
        source_speech_s = segment["speech_start_s"] - segment["start_s"]
        assert segment["source_start_s"] + source_speech_s == pytest.approx(0.3 + delay, abs=0.011)
    index = json.loads((tmp_path / "out" / "build.json").read_text())
    assert index["utterances"] == 7
    assert index["options"]["seed"] == 1


def test_paused_utterances_stay_one_reference_each(tmp_path: Path) -> None:
    options = AssembleOptions(manifest=manifest(tmp_path), seed=2, pauses_s=(0.6, 1.2))
    result = build_sessions(options, tmp_path / "out", aligner=fake_aligner)
    meta = json.loads(result.sessions[0].with_suffix(".json").read_text())
    audio = np.frombuffer(result.sessions[0].read_bytes()[44:], dtype="<i2")
    assert len(meta["segments"]) == 7
    counts = set()
    for segment in meta["segments"]:
        pauses = segment["pauses"]
        counts.add(len(pauses))
        for pause in pauses:
            assert 0.6 <= pause["pause_s"] <= 1.2
            assert segment["speech_start_s"] + 1.0 <= pause["start_s"]
            assert pause["end_s"] + 1.0 <= segment["speech_end_s"]
            first, end = round(pause["start_s"] * SR), round(pause["end_s"] * SR)
            assert not audio[first + 1 : end - 1].any()
            assert pause["after_word"] in ("three,", "four")
    assert counts <= {1, 2}


def test_silence_and_noise_builds_of_one_seed_differ_only_in_background(tmp_path: Path) -> None:
    path = manifest(tmp_path)
    silent = AssembleOptions(manifest=path, seed=5)
    noisy = AssembleOptions(manifest=path, seed=5, background=Background(noise_dbfs=-50.0))
    a = json.loads(
        build_sessions(silent, tmp_path / "a").sessions[0].with_suffix(".json").read_text()
    )
    b = json.loads(
        build_sessions(noisy, tmp_path / "b").sessions[0].with_suffix(".json").read_text()
    )
    assert a["segments"] == b["segments"]
    assert a["background"] != b["background"]


def test_pick_refuses_an_unknown_corpus_and_filters_by_part() -> None:
    everyone = [utt("a"), utt("b"), utt("c", subset="ljspeech")]
    parts = {"a": Part.TUNE, "b": Part.REPORT, "c": Part.REPORT}
    options = AssembleOptions(manifest=Path("m.jsonl"), corpora=("librispeech",), part=Part.REPORT)
    assert [u.id for u in pick(everyone, parts, options)] == ["b"]
    everything = AssembleOptions(manifest=Path("m.jsonl"), seed=9)
    assert sorted(u.id for u in pick(everyone, parts, everything)) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="no corpus nope"):
        pick(everyone, parts, AssembleOptions(manifest=Path("m.jsonl"), corpora=("nope",)))


def test_pauses_need_an_aligner(tmp_path: Path) -> None:
    options = AssembleOptions(manifest=manifest(tmp_path), pauses_s=(0.6, 1.2))
    with pytest.raises(ValueError, match="aligner"):
        build_sessions(options, tmp_path / "out")
