"""Conversations assembled for the diarization benchmark, on synthetic speakers: who speaks
when, exact references that never overlap, and builds that give the same bytes twice."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from echoic.audio.pcm import float32_to_wav
from echoic.bench.conversations import (
    ConversationOptions,
    build_conversations,
    cast,
    speaker_pools,
)
from echoic.bench.manifest import Utterance
from echoic.bench.rttm import read_rttm
from echoic.bench.session_split import Part
from echoic.types import SAMPLE_RATE, Audio

SR = SAMPLE_RATE
#: Each synthetic utterance: speech 0.3-1.5 s, a 0.7 s pause, speech 2.2-3.0 s, in a 3.5 s file.
SPEECH_S = [(0.3, 1.5), (2.2, 3.0)]


def spoken(spans_s: list[tuple[float, float]], length_s: float, seed: int) -> Audio:
    rng = np.random.default_rng(seed)
    audio = (rng.standard_normal(round(length_s * SR)) * 1e-3).astype(np.float32)
    for start, end in spans_s:
        a, b = round(start * SR), round(end * SR)
        audio[a:b] += (rng.standard_normal(b - a) * 0.1).astype(np.float32)
    return audio


def manifest(tmp_path: Path, speakers: int = 4, each: int = 8) -> Path:
    (tmp_path / "audio").mkdir()
    lines = []
    for s in range(speakers):
        for i in range(each):
            uid = f"s{s}-{i}"
            audio = spoken(SPEECH_S, 3.5, seed=s * 100 + i)
            (tmp_path / "audio" / f"{uid}.wav").write_bytes(float32_to_wav(audio))
            row = {
                "id": uid,
                "audio": f"audio/{uid}.wav",
                "text": f"WORDS OF {uid}",
                "duration_s": 3.5,
                "speaker": f"speaker-{s}",
                "subset": "synthetic",
            }
            lines.append(json.dumps(row))
    path = tmp_path / "manifest.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def pools(count: int, each: int) -> dict[str, list[Utterance]]:
    return {
        f"p{s}": [
            Utterance(id=f"p{s}-{i}", audio=Path("/nowhere"), text="", duration_s=1.0)
            for i in range(each)
        ]
        for s in range(count)
    }


@pytest.mark.parametrize("seed", range(6))
def test_every_speaker_speaks_no_voice_twice_in_a_row_no_utterance_twice(seed: int) -> None:
    options = ConversationOptions(manifest=Path("m"), seed=seed, speakers=(2, 4), turns=(6, 10))
    for index in range(5):
        turns = cast(pools(5, 4), index, options)
        speakers = [u.id.split("-")[0] for u in turns]
        assert 2 <= len(set(speakers)) <= 4
        assert 6 <= len(turns) <= 10
        assert set(speakers[: len(set(speakers))]) == set(speakers)  # everyone opens once
        assert all(a != b for a, b in itertools.pairwise(speakers))
        assert len({u.id for u in turns}) == len(turns)
        assert turns == cast(pools(5, 4), index, options)


def test_a_conversation_ends_early_when_the_voices_run_out() -> None:
    options = ConversationOptions(manifest=Path("m"), speakers=(2, 2), turns=(10, 10))
    turns = cast(pools(2, 2), 0, options)
    assert len(turns) == 4  # two each, alternating


def test_options_and_pools_refuse_what_cannot_make_a_conversation() -> None:
    with pytest.raises(ValueError, match="at least 2 speakers"):
        ConversationOptions(manifest=Path("m"), speakers=(1, 3))
    with pytest.raises(ValueError, match="at least 4 turns"):
        ConversationOptions(manifest=Path("m"), speakers=(2, 4), turns=(3, 6))
    options = ConversationOptions(manifest=Path("m"), speakers=(3, 4))
    with pytest.raises(ValueError, match="2 speakers with two utterances or more"):
        cast(pools(2, 5), 0, options)
    lonely = [
        Utterance(id="x", audio=Path("/x"), text="", duration_s=1.0, speaker="one", subset="c")
    ]
    everything = ConversationOptions(manifest=Path("m"), corpora=("all",))
    assert speaker_pools(lonely, {"x": Part.REPORT}, everything) == {}  # one utterance: no turns
    with pytest.raises(ValueError, match=r"no corpus nope in the manifest \(it has c\)"):
        speaker_pools(
            lonely, {"x": Part.REPORT}, ConversationOptions(manifest=Path("m"), corpora=("nope",))
        )


def read_build(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_a_build_is_deterministic_and_its_references_are_exact(tmp_path: Path) -> None:
    options = ConversationOptions(
        manifest=manifest(tmp_path),
        corpora=("synthetic",),
        part=None,
        conversations=3,
        seed=5,
        gap_s=(0.3, 0.6),
    )
    first = build_conversations(options, tmp_path / "one")
    build_conversations(options, tmp_path / "two")
    assert read_build(tmp_path / "one") == read_build(tmp_path / "two")
    other = ConversationOptions(**{**options.__dict__, "seed": 6})
    build_conversations(other, tmp_path / "three")
    assert read_build(tmp_path / "three") != read_build(tmp_path / "one")
    assert [p.name for p in first.conversations] == [f"conversation_0{i}.wav" for i in (1, 2, 3)]

    for wav in first.conversations:
        meta = json.loads(wav.with_suffix(".json").read_text())
        reference = read_rttm(wav.with_suffix(".rttm"))
        assert meta["num_speakers"] == len({t.speaker for t in reference}) == len(meta["speakers"])
        # Each utterance's 0.7 s pause splits it into two reference turns of its speaker.
        assert len(reference) == 2 * len(meta["segments"])
        pairs = zip(reference[::2], reference[1::2], strict=True)
        for segment, (a, b) in zip(meta["segments"], pairs, strict=True):
            assert a.speaker == b.speaker == segment["speaker"]
            assert a.start == pytest.approx(segment["speech_start_s"], abs=0.002)
            assert b.end == pytest.approx(segment["speech_end_s"], abs=0.002)
            assert a.end - a.start == pytest.approx(1.2, abs=0.02)
            assert b.start - a.end == pytest.approx(0.7, abs=0.02)
        # No overlap, and the gaps between speakers are as asked.
        for left, right in itertools.pairwise(reference):
            assert right.start >= left.end
            if left.speaker != right.speaker:
                assert 0.3 - 0.002 <= right.start - left.end <= 0.6 + 0.002
        audio = np.frombuffer(wav.read_bytes()[44:], dtype="<i2").astype(np.float64) / 32768
        assert len(audio) == pytest.approx(meta["duration_s"] * SR, abs=8)
        for turn in reference:  # speech where the reference says, silence between turns
            inside = audio[round((turn.start + 0.02) * SR) : round((turn.end - 0.02) * SR)]
            assert np.sqrt(np.mean(inside**2)) > 0.05
        for left, right in itertools.pairwise(reference):
            gap = audio[round((left.end + 0.02) * SR) : round((right.start - 0.02) * SR)]
            assert np.sqrt(np.mean(gap**2)) < 0.01
    index = json.loads((tmp_path / "one" / "build.json").read_text())
    assert index["speaker_pools"] == {f"speaker-{s}": 8 for s in range(4)}
    assert Counter(len(c["speakers"]) for c in index["conversations"]) == Counter(first.speakers)


def test_the_report_part_uses_only_report_utterances(tmp_path: Path) -> None:
    from echoic.bench.manifest import load_manifest
    from echoic.bench.session_split import split_parts

    path = manifest(tmp_path)
    parts = split_parts(load_manifest(path))
    for part in (Part.TUNE, Part.REPORT):
        options = ConversationOptions(
            manifest=path, corpora=("all",), part=part, conversations=2, turns=(4, 6)
        )
        build_conversations(options, tmp_path / part.value)
        index = json.loads((tmp_path / part.value / "build.json").read_text())
        used = {i for c in index["conversations"] for i in c["ids"]}
        assert used
        assert all(parts[i] is part for i in used)
