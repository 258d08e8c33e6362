"""The WER arithmetic of ``echoic bench``: Whisper normalization, jiwer counts, corpus totals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from echoic.bench.manifest import load_manifest
from echoic.bench.text import WordCounts, corpus_wer, count_errors, normalize, total


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Mr. Smith has 2 dogs", "mister smith has 2 dogs"),
        ("mister smith has two dogs", "mister smith has 2 dogs"),
        ("Hello, World!", "hello world"),
        ("the colour of twenty-one", "the color of 21"),
        ("Hmm, uh, I see", "i see"),  # fillers are not words
        ("And so, my fellow Americans...", "and so my fellow americans"),  # no lone "." token
        ("...", ""),
        ("", ""),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_spelling_and_number_variants_are_not_errors() -> None:
    counts = count_errors("Mr. Smith has 2 dogs", "mister smith has two dogs")
    assert counts == WordCounts(hits=5)
    assert counts.errors == 0
    assert counts.wer == 0.0


@pytest.mark.parametrize(
    ("ref", "hyp", "expected"),
    [
        ("a b c d", "a b c d", WordCounts(hits=4)),
        ("a b c d", "a x c d", WordCounts(hits=3, substitutions=1)),
        ("a b c d", "a c d", WordCounts(hits=3, deletions=1)),
        ("a b c d", "a b extra c d", WordCounts(hits=4, insertions=1)),
        ("a b c d", "", WordCounts(deletions=4)),
        ("", "ghost words", WordCounts(insertions=2)),
        ("", "", WordCounts()),
    ],
)
def test_count_errors(ref: str, hyp: str, expected: WordCounts) -> None:
    assert count_errors(ref, hyp, normalized=True) == expected


def test_counts_derive_words_errors_and_wer() -> None:
    counts = WordCounts(hits=6, substitutions=2, deletions=2, insertions=1)
    assert counts.words == 10  # hits + substitutions + deletions: the reference length
    assert counts.errors == 5
    assert counts.wer == pytest.approx(0.5)
    assert WordCounts(insertions=3).wer == 1.0  # nothing to say but "wrong" with no reference
    assert WordCounts().wer == 0.0


def test_wer_can_exceed_one_with_insertions() -> None:
    assert count_errors("yes", "yes yes yes", normalized=True).wer == pytest.approx(2.0)


def test_corpus_wer_is_total_errors_over_total_words_not_the_mean() -> None:
    refs = ["the cat sat on the mat by the door", "yes"]
    hyps = ["the cat sat on the mat by the door", "no"]
    per_utterance = [count_errors(r, h).wer for r, h in zip(refs, hyps, strict=True)]
    assert per_utterance == [0.0, 1.0]
    assert sum(per_utterance) / 2 == pytest.approx(0.5)  # the mean: not what we report
    assert corpus_wer(refs, hyps) == pytest.approx(1 / 10)


def test_total_adds_counts() -> None:
    parts = [WordCounts(hits=2, substitutions=1), WordCounts(deletions=1, insertions=2)]
    assert total(parts) == WordCounts(hits=2, substitutions=1, deletions=1, insertions=2)
    assert total([]) == WordCounts()


def test_corpus_wer_needs_pairs() -> None:
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        corpus_wer(["a", "b"], ["a"])


def test_to_dict_carries_the_derived_numbers() -> None:
    d = WordCounts(hits=3, substitutions=1).to_dict()
    assert d == {
        "wer": 0.25,
        "errors": 1,
        "words": 4,
        "hits": 3,
        "substitutions": 1,
        "deletions": 0,
        "insertions": 0,
    }


def _manifest(tmp_path: Path) -> Path:
    rows = [
        {"id": f"u{i}", "audio": f"audio/u{i}.wav", "text": f"text {i}", "duration_s": i + 1.0}
        for i in range(4)
    ]
    rows[0]["corpus"] = "A"
    path = tmp_path / "manifest.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
    return path


def test_manifest_resolves_audio_next_to_it_and_selects(tmp_path: Path) -> None:
    path = _manifest(tmp_path)
    every = load_manifest(path)
    assert [u.id for u in every] == ["u0", "u1", "u2", "u3"]
    assert every[0].audio == (tmp_path / "audio/u0.wav").resolve()
    assert (every[0].corpus, every[1].corpus) == ("A", "")
    assert [u.id for u in load_manifest(path, limit=2)] == ["u0", "u1"]
    assert [u.id for u in load_manifest(path, ids=("u3", "u1"))] == ["u1", "u3"]
    assert [u.id for u in load_manifest(path, ids=("u3", "u1", "u2"), limit=1)] == ["u1"]


def test_manifest_names_unknown_ids_and_bad_lines(tmp_path: Path) -> None:
    path = _manifest(tmp_path)
    with pytest.raises(ValueError, match="no utterance with id nope"):
        load_manifest(path, ids=("u1", "nope"))
    path.write_text('{"id": "x", "audio": "x.wav"}\n')
    with pytest.raises(ValueError, match=r"manifest.jsonl:1: not a manifest entry"):
        load_manifest(path)
