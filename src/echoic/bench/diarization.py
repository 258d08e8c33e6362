"""``echoic bench diarization``: who spoke when, scored against exact turns (EVAL.md style).

For each named set of files (a directory of ``*.wav``, each with its reference ``.rttm``
beside it: the dev ``diarization/`` clip, or conversations from
:mod:`echoic.bench.conversations`), the diarizer runs on every file once, model loaded, and is
scored with :mod:`echoic.bench.der`:

- DER and its parts (missed speech, false alarm, speaker confusion) per file and per set, the
  set's errors summed over its files (NIST's way: long files weigh more);
- speakers found vs speakers in the reference, and how many files got the count right;
- the wall seconds of ``Diarizer.turns`` per minute of audio (the audio already decoded).

The speaker count a request gives changes the answer, so it is part of the run: none (the
diarizer finds out), one for every file (``--num-speakers``, bounds), or each file's true
count (``oracle``: clustering alone, the count taken out of the question).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from echoic.audio.decode import decode_audio
from echoic.bench.der import COLLAR_S, DerScore, score_der, speaker_count
from echoic.bench.diarization_speed import LongformTiming
from echoic.bench.machine import cpu_model, peak_rss_mb
from echoic.bench.rttm import read_rttm
from echoic.diarize.runner import SpeakerFinder
from echoic.diarize.types import SpeakerCount, SpeakerTurns, Turn
from echoic.types import SAMPLE_RATE, Audio


@dataclass(frozen=True, kw_only=True)
class Reference:
    """A file to diarize and its true turns."""

    audio: Path
    turns: tuple[Turn, ...]

    @property
    def name(self) -> str:
        return self.audio.stem


def references(directory: Path) -> list[Reference]:
    """Every ``*.wav`` of ``directory`` with a ``.rttm`` beside it, sorted by name."""
    if not directory.is_dir():
        raise ValueError(f"{directory} is not a directory")
    found = [
        Reference(audio=wav.resolve(), turns=read_rttm(wav.with_suffix(".rttm")))
        for wav in sorted(directory.glob("*.wav"))
        if wav.with_suffix(".rttm").is_file()
    ]
    if not found:
        raise ValueError(f"no *.wav with an .rttm beside it in {directory}")
    return found


@dataclass(frozen=True, kw_only=True)
class CountPolicy:
    """What the benchmark tells the diarizer about the number of speakers."""

    count: SpeakerCount = field(default_factory=SpeakerCount)
    #: Each file's true number of speakers as ``num_speakers`` (``count`` is then ignored).
    oracle: bool = False

    def for_file(self, reference: Reference) -> SpeakerCount:
        if self.oracle:
            return SpeakerCount(num_speakers=speaker_count(reference.turns))
        return self.count

    @property
    def label(self) -> str:
        if self.oracle:
            return "oracle"
        c = self.count
        if c.num_speakers is not None:
            return f"num={c.num_speakers}"
        if c.min_speakers is None and c.max_speakers is None:
            return "auto"
        return f"{c.min_speakers or 1}..{c.max_speakers or '*'}"


@dataclass(frozen=True, kw_only=True)
class FileResult:
    name: str
    path: Path
    duration_s: float
    reference_speakers: int
    hypothesis_speakers: int
    score: DerScore
    #: Wall seconds of ``turns`` on this file.
    diarize_s: float
    hypothesis: SpeakerTurns

    @property
    def count_right(self) -> bool:
        return self.reference_speakers == self.hypothesis_speakers

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "duration_s": round(self.duration_s, 3),
            "reference_speakers": self.reference_speakers,
            "hypothesis_speakers": self.hypothesis_speakers,
            "count_right": self.count_right,
            **self.score.to_dict(),
            "diarize_s": round(self.diarize_s, 4),
            "hypothesis": [
                {"start": round(t.start, 3), "end": round(t.end, 3), "speaker": t.speaker}
                for t in self.hypothesis.turns
            ],
        }


@dataclass(frozen=True, kw_only=True)
class SetResult:
    name: str
    directory: Path
    files: tuple[FileResult, ...]

    @property
    def score(self) -> DerScore:
        return DerScore.total(f.score for f in self.files)

    @property
    def counts_right(self) -> int:
        return sum(f.count_right for f in self.files)

    @property
    def audio_s(self) -> float:
        return sum(f.duration_s for f in self.files)

    @property
    def seconds_per_audio_minute(self) -> float:
        """Diarizer wall seconds per minute of audio over the set."""
        return sum(f.diarize_s for f in self.files) / (self.audio_s / 60) if self.audio_s else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "directory": str(self.directory),
            "files": len(self.files),
            "audio_s": round(self.audio_s, 3),
            **self.score.to_dict(),
            "counts_right": self.counts_right,
            "seconds_per_audio_minute": round(self.seconds_per_audio_minute, 4),
            "per_file": [f.to_dict() for f in self.files],
        }


@dataclass(frozen=True, kw_only=True)
class DiarizationResult:
    diarizer: str
    policy: CountPolicy
    collar_s: float
    created_at: str
    machine: dict[str, Any]
    sets: tuple[SetResult, ...]
    #: Transcription alone vs with diarization, side by side (:mod:`bench.diarization_speed`).
    longform: LongformTiming | None = None

    kind: ClassVar[str] = "diarization"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "diarizer": self.diarizer,
            "speaker_count": self.policy.label,
            "collar_s": self.collar_s,
            "skip_overlap": False,
            "created_at": self.created_at,
            "machine": self.machine,
            "sets": [s.to_dict() for s in self.sets],
            "longform": None if self.longform is None else self.longform.to_dict(),
        }


#: Called after each file with (set name, file result).
FileCallback = Callable[[str, FileResult], None]


def diarize_file(
    finder: SpeakerFinder,
    reference: Reference,
    policy: CountPolicy,
    *,
    collar_s: float = COLLAR_S,
    audio: Audio | None = None,
) -> FileResult:
    """Diarize one file (its decoding not timed) and score it."""
    samples = decode_audio(reference.audio) if audio is None else audio
    duration_s = len(samples) / SAMPLE_RATE
    count = policy.for_file(reference)
    started = time.perf_counter()
    hypothesis = finder.turns(samples, count)
    diarize_s = time.perf_counter() - started
    return FileResult(
        name=reference.name,
        path=reference.audio,
        duration_s=duration_s,
        reference_speakers=speaker_count(reference.turns),
        hypothesis_speakers=hypothesis.speakers,
        score=score_der(
            reference.turns, hypothesis.turns, duration_s=duration_s, collar_s=collar_s
        ),
        diarize_s=diarize_s,
        hypothesis=hypothesis,
    )


def run_sets(
    finder: SpeakerFinder,
    sets: Sequence[tuple[str, Path]],
    policy: CountPolicy,
    *,
    collar_s: float = COLLAR_S,
    warmup: bool = True,
    on_file: FileCallback | None = None,
) -> tuple[SetResult, ...]:
    """Every file of every set, one after another; one untimed run first (``warmup``: lazy
    model setup is not what is measured)."""
    loaded = [(name, directory, references(directory)) for name, directory in sets]
    if warmup and loaded:
        first = loaded[0][2][0]
        finder.turns(decode_audio(first.audio), policy.for_file(first))
    results: list[SetResult] = []
    for name, directory, refs in loaded:
        files: list[FileResult] = []
        for reference in refs:
            result = diarize_file(finder, reference, policy, collar_s=collar_s)
            files.append(result)
            if on_file is not None:
                on_file(name, result)
        results.append(SetResult(name=name, directory=directory, files=tuple(files)))
    return tuple(results)


def host_info(**extra: Any) -> dict[str, Any]:
    """The machine a report was measured on (plus what the caller adds: model settings)."""
    return {
        "cpu_count": os.cpu_count() or 1,
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "peak_rss_mb": peak_rss_mb(),
        **extra,
    }


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
