"""The diarization benchmark's plumbing on synthetic files: sets, speaker-count policies,
scores, the report and its plot (the real diarizer: tests/integration)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from echoic.audio.pcm import float32_to_wav
from echoic.bench.der import DerScore
from echoic.bench.diarization import (
    CountPolicy,
    DiarizationResult,
    references,
    run_sets,
)
from echoic.bench.diarization_report import plot_diarization, print_diarization
from echoic.bench.diarization_speed import DIARIZE, DIARIZED, TRANSCRIBE, time_longform
from echoic.bench.report import write_with_plot
from echoic.bench.rttm import format_rttm
from echoic.diarize.scripted import ScriptedDiarizer
from echoic.diarize.types import SpeakerCount, SpeakerTurns, Turn
from echoic.engines.scripted import ScriptedEngine
from echoic.types import SAMPLE_RATE, Audio, TranscribeOptions

A_THEN_B = (
    Turn(start=0.5, end=2.0, speaker="a"),
    Turn(start=2.5, end=4.0, speaker="b"),
)


class HalfAndHalf:
    """Speaker ``SPEAKER_00`` in the first half, ``SPEAKER_01`` in the second (or one speaker
    when asked for one); records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[SpeakerCount] = []

    def turns(self, audio: Audio, count: SpeakerCount) -> SpeakerTurns:
        self.asked.append(count)
        half = len(audio) / SAMPLE_RATE / 2
        if count.num_speakers == 1:
            return SpeakerTurns(turns=(Turn(start=0.5, end=4.0, speaker="SPEAKER_00"),))
        return SpeakerTurns(
            turns=(
                Turn(start=0.5, end=half, speaker="SPEAKER_00"),
                Turn(start=half, end=4.0, speaker="SPEAKER_01"),
            )
        )


def a_set(directory: Path, names: tuple[str, ...] = ("one", "two")) -> Path:
    directory.mkdir()
    for name in names:
        (directory / f"{name}.wav").write_bytes(
            float32_to_wav(np.zeros(6 * SAMPLE_RATE, dtype=np.float32))
        )
        (directory / f"{name}.rttm").write_text(format_rttm(name, A_THEN_B))
    (directory / "no-reference.wav").write_bytes(
        float32_to_wav(np.zeros(SAMPLE_RATE, dtype=np.float32))
    )
    return directory


def test_a_set_is_every_wav_with_an_rttm(tmp_path: Path) -> None:
    found = references(a_set(tmp_path / "set"))
    assert [r.name for r in found] == ["one", "two"]
    assert found[0].turns == A_THEN_B
    with pytest.raises(ValueError, match=r"no \*\.wav with an \.rttm"):
        references(tmp_path)
    with pytest.raises(ValueError, match="not a directory"):
        references(tmp_path / "missing")


@pytest.mark.parametrize(
    ("policy", "asked", "label"),
    [
        (CountPolicy(), SpeakerCount(), "auto"),
        (CountPolicy(oracle=True), SpeakerCount(num_speakers=2), "oracle"),
        (CountPolicy(count=SpeakerCount(num_speakers=1)), SpeakerCount(num_speakers=1), "num=1"),
        (CountPolicy(count=SpeakerCount(max_speakers=3)), SpeakerCount(max_speakers=3), "1..3"),
    ],
)
def test_the_count_policy_says_what_the_diarizer_is_told(
    tmp_path: Path, policy: CountPolicy, asked: SpeakerCount, label: str
) -> None:
    finder = HalfAndHalf()
    (result,) = run_sets(finder, [("s", a_set(tmp_path / "set"))], policy)
    assert finder.asked == [asked] * 3  # the warm-up and the two files
    assert policy.label == label
    assert [f.name for f in result.files] == ["one", "two"]
    assert all(f.diarize_s >= 0 for f in result.files)


def test_scores_counts_and_the_report(tmp_path: Path) -> None:
    sets = [("x", a_set(tmp_path / "x")), ("y", a_set(tmp_path / "y", ("three",)))]
    results = run_sets(HalfAndHalf(), sets, CountPolicy(), warmup=False)
    x, y = results
    assert [f.name for f in y.files] == ["three"]
    one = x.files[0]
    # a 0.5-2.0, b 2.5-4.0; hypothesis SPEAKER_00 0.5-3.0, SPEAKER_01 3.0-4.0: the change
    # comes 0.5 s late, and the collar (2.5 ± 0.25) forgives the first half of that.
    assert one.score.confusion_s == pytest.approx(0.25)
    assert one.score.missed_s == one.score.false_alarm_s == 0.0
    assert one.score.reference_s == pytest.approx(2.0)
    assert (one.reference_speakers, one.hypothesis_speakers, one.count_right) == (2, 2, True)
    assert x.score == DerScore.total([f.score for f in x.files])
    assert x.counts_right == 2
    assert x.audio_s == pytest.approx(12.0)

    result = DiarizationResult(
        diarizer="HalfAndHalf",
        policy=CountPolicy(),
        collar_s=0.5,
        created_at="now",
        machine={},
        sets=results,
    )
    json_path, png = write_with_plot(
        result, tmp_path / "r.json", None, lambda p: plot_diarization(result, p)
    )
    report = json.loads(json_path.read_text())
    assert png.read_bytes().startswith(b"\x89PNG")
    assert [s["name"] for s in report["sets"]] == ["x", "y"]
    assert report["sets"][0]["der"] == pytest.approx(x.score.der, abs=1e-4)
    assert report["sets"][0]["per_file"][0]["hypothesis"][0]["speaker"] == "SPEAKER_00"
    assert report["speaker_count"] == "auto"
    assert report["longform"] is None
    console = Console(record=True, width=200)
    print_diarization(result, console)
    text = console.export_text()
    assert "2/2 right" in text
    assert "1/1 right" in text


def test_longform_times_transcription_with_diarization_running_alongside(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    path.write_bytes(float32_to_wav(np.zeros(40 * SAMPLE_RATE, dtype=np.float32)))
    engine = ScriptedEngine.saying("hello there", delay_s=0.2)
    diarizer = ScriptedDiarizer.alternating(2, every_s=15.0, delay_s=0.2)
    runs: list[str] = []
    timing = time_longform(
        engine,
        diarizer,
        path,
        model="scripted",
        options=TranscribeOptions(),
        count=SpeakerCount(max_speakers=3),
        repeats=2,
        on_run=lambda name, _s: runs.append(name),
    )
    assert runs == [TRANSCRIBE, DIARIZED, DIARIZE, DIARIZE, DIARIZED, TRANSCRIBE]
    # The warm-up on the first 30 s, then every diarized run on the whole file, told the count.
    assert [c.duration_s for c in diarizer.calls] == [30.0] + [40.0] * 4
    assert {c.count for c in diarizer.calls} == {SpeakerCount(max_speakers=3)}
    # The scripted transcript is one segment over the whole file, which both speakers share:
    # each diarized run decodes it again, alone, with word timings (as the CLI does).
    assert timing.redecoded == 1
    words = [c.options.word_timestamps for c in engine.calls[2:]]  # after the warm-up's two
    assert words == [False, False, True, False, True, False]  # in the running order above
    assert {c.duration_s for c in engine.calls[2:]} == {40.0}
    assert timing.duration_s == pytest.approx(40.0)
    assert timing.speakers == 2
    # Side by side, not one after the other: 0.2 s each, about 0.2 s together, then 0.2 s for
    # the segment decoded again.
    assert timing.timings[DIARIZED].median_s < 0.55
    assert timing.added < 1.75
    assert timing.added_paired < 1.75
    assert timing.cpu[DIARIZED].median_s < 0.1  # sleeping is not working
    report = timing.to_dict()
    assert list(report["timings"]) == [TRANSCRIBE, DIARIZED, DIARIZE]
    assert report["timings"][TRANSCRIBE]["times_s"][0] >= 0.2
    assert report["redecoded_segments"] == 1
