"""``echoic bench speed``: echoic's batch path against plain faster-whisper, timed side by side.

Two questions, answered in one interleaved run on one loaded model (EVAL.md, Speed):

- **overhead**: echoic's ``transcribe_file`` vs ``WhisperModel.transcribe`` on the same file with
  the same options, both sequential (``batched=False``, so both run the same algorithm), both
  starting from the path and consuming every segment. Ratio of medians; goal ≤ 1.05.
- **throughput** on long audio: the VAD-chunked ``BatchedInferencePipeline`` vs the sequential
  decoder, for echoic and for plain faster-whisper.

Within each repeat the contenders run back to back on each file, in reversed order on odd
repeats, so that drift in machine load hits all of them alike.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from echoic.audio import decode_audio
from echoic.bench.engine import LoadedEngine
from echoic.bench.machine import MachineInfo, machine_info, peak_rss_mb
from echoic.bench.runs import PlainWhisper, Run, run_echoic
from echoic.types import SAMPLE_RATE, TranscribeOptions

JFK_CLIP = Path("audio/jfk-inaugural-1961.wav")  # 11 s, relative to the eval data directory
LONGFORM = Path("longform/ljspeech_LJ001_chapter.wav")  # 232.6 s continuous reading

ECHOIC, PLAIN = "echoic", "plain"
ECHOIC_BATCHED, PLAIN_BATCHED = "echoic_batched", "plain_batched"


def default_speed_files(data_dir: Path) -> tuple[Path, ...]:
    """The JFK clip and the long-form reading of an eval data directory (``eval/dev``)."""
    return (data_dir / JFK_CLIP, data_dir / LONGFORM)


def default_throughput_file(data_dir: Path) -> Path:
    return data_dir / LONGFORM


@dataclass(frozen=True, kw_only=True)
class SpeedOptions:
    files: tuple[Path, ...]
    #: Long audio for batched vs sequential; ``None`` skips that comparison.
    throughput_file: Path | None = None
    repeats: int = 3
    #: One untimed run of each contender first (lazy model and VAD setup is not what we measure).
    warmup: bool = True
    #: Decoding options for all contenders; ``batched`` is overridden per contender.
    transcribe: TranscribeOptions = field(default_factory=TranscribeOptions)


@dataclass(frozen=True, kw_only=True)
class Timing:
    """Wall seconds of one contender on one file over the repeats, model already loaded."""

    times_s: tuple[float, ...]
    audio_s: float

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s)

    @property
    def min_s(self) -> float:
        return min(self.times_s)

    @property
    def max_s(self) -> float:
        return max(self.times_s)

    @property
    def rtfx(self) -> float:
        """Audio seconds per wall second, from the median."""
        return self.audio_s / self.median_s if self.median_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "times_s": [round(t, 4) for t in self.times_s],
            "median_s": round(self.median_s, 4),
            "min_s": round(self.min_s, 4),
            "max_s": round(self.max_s, 4),
            "rtfx": round(self.rtfx, 2),
        }


@dataclass(frozen=True, kw_only=True)
class FileSpeed:
    path: Path
    duration_s: float
    echoic: Timing
    plain: Timing
    #: Whether both produced the same text: the comparison is only fair if they did.
    same_text: bool

    @property
    def overhead_ratio(self) -> float:
        """median(echoic) / median(plain); 1.0 means no overhead."""
        return self.echoic.median_s / self.plain.median_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "duration_s": round(self.duration_s, 3),
            "echoic": self.echoic.to_dict(),
            "plain": self.plain.to_dict(),
            "overhead_ratio": round(self.overhead_ratio, 4),
            "same_text": self.same_text,
        }


@dataclass(frozen=True, kw_only=True)
class Throughput:
    """Batched (VAD chunks, ``batch_size`` at once) vs sequential decoding of one long file."""

    path: Path
    duration_s: float
    batch_size: int
    echoic_sequential: Timing
    echoic_batched: Timing
    plain_sequential: Timing
    plain_batched: Timing

    @property
    def echoic_speedup(self) -> float:
        return self.echoic_sequential.median_s / self.echoic_batched.median_s

    @property
    def plain_speedup(self) -> float:
        return self.plain_sequential.median_s / self.plain_batched.median_s

    @property
    def batched_overhead_ratio(self) -> float:
        """median(echoic batched) / median(plain batched)."""
        return self.echoic_batched.median_s / self.plain_batched.median_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "duration_s": round(self.duration_s, 3),
            "batch_size": self.batch_size,
            "echoic_sequential": self.echoic_sequential.to_dict(),
            "echoic_batched": self.echoic_batched.to_dict(),
            "plain_sequential": self.plain_sequential.to_dict(),
            "plain_batched": self.plain_batched.to_dict(),
            "echoic_speedup": round(self.echoic_speedup, 3),
            "plain_speedup": round(self.plain_speedup, 3),
            "batched_overhead_ratio": round(self.batched_overhead_ratio, 4),
        }


@dataclass(frozen=True, kw_only=True)
class SpeedResult:
    model: str
    options: TranscribeOptions
    machine: MachineInfo
    created_at: str
    repeats: int
    files: tuple[FileSpeed, ...]
    throughput: Throughput | None
    peak_rss_after_load_mb: float
    peak_rss_after_run_mb: float

    kind: ClassVar[str] = "speed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self.model,
            "created_at": self.created_at,
            "repeats": self.repeats,
            "machine": self.machine.to_dict(),
            "options": asdict(self.options),
            "memory": {
                "peak_rss_after_load_mb": self.peak_rss_after_load_mb,
                "peak_rss_after_run_mb": self.peak_rss_after_run_mb,
            },
            "files": [f.to_dict() for f in self.files],
            "throughput": None if self.throughput is None else self.throughput.to_dict(),
        }


#: Called after every timed run with (contender, file, wall seconds).
RunCallback = Callable[[str, Path, float], None]


def run_speed(
    loaded: LoadedEngine, options: SpeedOptions, *, on_run: RunCallback | None = None
) -> SpeedResult:
    if options.repeats < 1:
        raise ValueError("repeats must be at least 1")
    if not options.files and options.throughput_file is None:
        raise ValueError("nothing to time: no files and no throughput file")
    contenders = _contenders(loaded, options.transcribe)
    plan = _plan(options)
    durations = {path: len(decode_audio(path)) / SAMPLE_RATE for path, _ in plan}
    if options.warmup:
        shortest = min(durations, key=lambda p: durations[p])
        for name in dict.fromkeys(n for _, names in plan for n in names):
            contenders[name](shortest)
    times: dict[tuple[Path, str], list[float]] = {}
    texts: dict[tuple[Path, str], str] = {}
    for repeat in range(options.repeats):
        for path, names in plan:
            for name in names if repeat % 2 == 0 else reversed(names):
                run = contenders[name](path)
                times.setdefault((path, name), []).append(run.seconds)
                texts.setdefault((path, name), run.text)
                if on_run is not None:
                    on_run(name, path, run.seconds)

    def timing(path: Path, name: str) -> Timing:
        return Timing(times_s=tuple(times[path, name]), audio_s=durations[path])

    files = tuple(
        FileSpeed(
            path=path,
            duration_s=durations[path],
            echoic=timing(path, ECHOIC),
            plain=timing(path, PLAIN),
            same_text=texts[path, ECHOIC] == texts[path, PLAIN],
        )
        for path in _unique(options.files)
    )
    throughput = None
    if options.throughput_file is not None:
        path = options.throughput_file.resolve()
        throughput = Throughput(
            path=path,
            duration_s=durations[path],
            batch_size=options.transcribe.batch_size,
            echoic_sequential=timing(path, ECHOIC),
            echoic_batched=timing(path, ECHOIC_BATCHED),
            plain_sequential=timing(path, PLAIN),
            plain_batched=timing(path, PLAIN_BATCHED),
        )
    return SpeedResult(
        model=loaded.model,
        options=options.transcribe,
        machine=machine_info(
            model=loaded.model,
            device=loaded.device,
            compute_type=loaded.compute_type,
            cpu_threads=loaded.cpu_threads,
            beam_size=options.transcribe.beam_size,
            load_s=loaded.load_s,
        ),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        repeats=options.repeats,
        files=files,
        throughput=throughput,
        peak_rss_after_load_mb=loaded.peak_rss_after_load_mb,
        peak_rss_after_run_mb=peak_rss_mb(),
    )


def _contenders(
    loaded: LoadedEngine, options: TranscribeOptions
) -> dict[str, Callable[[Path], Run]]:
    engine = loaded.engine
    plain = PlainWhisper(engine.whisper_model)
    sequential = replace(options, batched=False)
    batched = replace(options, batched=True)
    return {
        ECHOIC: lambda path: run_echoic(engine, path, sequential),
        PLAIN: lambda path: plain.run(path, sequential, batched=False),
        ECHOIC_BATCHED: lambda path: run_echoic(engine, path, batched),
        PLAIN_BATCHED: lambda path: plain.run(path, batched, batched=True),
    }


def _plan(options: SpeedOptions) -> list[tuple[Path, list[str]]]:
    """Which contenders run on which file, in running order."""
    files = _unique(options.files)
    long = options.throughput_file.resolve() if options.throughput_file is not None else None
    plan: list[tuple[Path, list[str]]] = []
    for path in _unique([*files, *([long] if long is not None else [])]):
        names = [ECHOIC, PLAIN]  # the throughput file needs the sequential times too
        if path == long:
            names += [ECHOIC_BATCHED, PLAIN_BATCHED]
        plan.append((path, names))
    return plan


def _unique(paths: tuple[Path, ...] | list[Path]) -> list[Path]:
    return list(dict.fromkeys(p.resolve() for p in paths))
