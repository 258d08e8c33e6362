"""What diarization adds to a batch transcription, measured side by side (EVAL.md: a ratio of
one interleaved run).

Three contenders on one long file, each from the file path, models loaded:

- **transcribe**: the batch path alone (``transcribe_file``), as without ``diarization``;
- **transcribe + diarize**: the way the server answers ``diarization=true``: the file decoded
  once, transcription and ``Diarizer.turns`` in two threads at once, then the words labelled
  with their speakers (``label_transcript``), timed until the labelled transcript is out;
- **diarize**: decoding and ``turns`` alone, for scale.

Within each repeat they run back to back, in reversed order on odd repeats, so that drift in
machine load hits all alike. The figure is ``median(transcribe + diarize) / median(transcribe)
− 1`` (target: under 25 % with tiny.en on the dev long-form reading), beside the median of
each repeat's own ratio and the same ratio of the process's CPU seconds (on a machine shared
with other work the wall-time ratios move with its load; the CPU seconds hardly do).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from echoic.audio.decode import decode_audio
from echoic.batch import SyncEngine, transcribe_file
from echoic.bench.speed import Timing
from echoic.diarize.types import SpeakerCount, SpeakerTurns
from echoic.types import SAMPLE_RATE, Audio, TranscribeOptions, Transcript

TRANSCRIBE, DIARIZED, DIARIZE = "transcribe", "transcribe + diarize", "diarize"
CONTENDERS = (TRANSCRIBE, DIARIZED, DIARIZE)
WARMUP_S = 30.0  # the warm-up runs on the file's first 30 s: lazy setup, not the measurement

#: ``Diarizer.turns``.
FindTurns = Callable[[Audio, SpeakerCount], SpeakerTurns]
#: ``label_transcript``.
Labeler = Callable[[Transcript, SpeakerTurns], Transcript]
#: Called after every timed run with (contender, wall seconds).
RunCallback = Callable[[str, float], None]


@dataclass(frozen=True, kw_only=True)
class LongformTiming:
    path: Path
    duration_s: float
    model: str
    options: TranscribeOptions
    count: SpeakerCount
    timings: dict[str, Timing]
    #: The process's CPU seconds (all threads) of each run: what other work on a shared machine
    #: does not change, unlike the wall time.
    cpu: dict[str, Timing]
    #: Speakers the diarized transcript names, and whether each contender's text was the same.
    speakers: int
    same_text: bool

    @property
    def added(self) -> float:
        """What diarization adds to the transcription's wall time (0.2: 20 % more)."""
        return self.timings[DIARIZED].median_s / self.timings[TRANSCRIBE].median_s - 1

    @property
    def added_cpu(self) -> float:
        """What diarization adds to the transcription's CPU seconds (medians)."""
        return self.cpu[DIARIZED].median_s / self.cpu[TRANSCRIBE].median_s - 1

    @property
    def added_paired(self) -> float:
        """The median of each repeat's own ratio (the two ran back to back, so drift in machine
        load between repeats cancels out)."""
        pairs = zip(self.timings[DIARIZED].times_s, self.timings[TRANSCRIBE].times_s, strict=True)
        return statistics.median(d / t - 1 for d, t in pairs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "duration_s": round(self.duration_s, 3),
            "model": self.model,
            "beam_size": self.options.beam_size,
            "batched": self.options.batched,
            "word_timestamps": self.options.word_timestamps,
            "num_speakers": self.count.num_speakers,
            "timings": {name: t.to_dict() for name, t in self.timings.items()},
            "added": round(self.added, 4),
            "added_paired": round(self.added_paired, 4),
            "cpu_s": {name: t.to_dict() for name, t in self.cpu.items()},
            "added_cpu": round(self.added_cpu, 4),
            "speakers": self.speakers,
            "same_text": self.same_text,
        }


def time_longform(
    engine: SyncEngine,
    find_turns: FindTurns,
    label: Labeler,
    path: Path,
    *,
    model: str,
    options: TranscribeOptions,
    count: SpeakerCount,
    repeats: int = 3,
    warmup: bool = True,
    on_run: RunCallback | None = None,
) -> LongformTiming:
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    audio = decode_audio(path)
    if warmup:
        head = audio[: round(WARMUP_S * SAMPLE_RATE)]
        engine.transcribe_sync(head, options)
        find_turns(head, count)

    texts: dict[str, Transcript] = {}

    def transcribe() -> None:
        texts[TRANSCRIBE] = transcribe_file(engine, path, options)

    def diarized() -> None:
        samples = decode_audio(path)
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="bench-diarize") as pool:
            words = pool.submit(engine.transcribe_sync, samples, options)
            turns = pool.submit(find_turns, samples, count)
            texts[DIARIZED] = label(words.result(), turns.result())

    def diarize() -> None:
        find_turns(decode_audio(path), count)

    runs = {TRANSCRIBE: transcribe, DIARIZED: diarized, DIARIZE: diarize}
    times: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    cpu: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    for repeat in range(repeats):
        for name in CONTENDERS if repeat % 2 == 0 else reversed(CONTENDERS):
            started, cpu_started = time.perf_counter(), time.process_time()
            runs[name]()
            seconds = time.perf_counter() - started
            times[name].append(seconds)
            cpu[name].append(time.process_time() - cpu_started)
            if on_run is not None:
                on_run(name, seconds)
    duration_s = len(audio) / SAMPLE_RATE
    return LongformTiming(
        path=path,
        duration_s=duration_s,
        model=model,
        options=options,
        count=count,
        timings={n: Timing(times_s=tuple(times[n]), audio_s=duration_s) for n in CONTENDERS},
        cpu={n: Timing(times_s=tuple(cpu[n]), audio_s=duration_s) for n in CONTENDERS},
        speakers=_speakers(texts[DIARIZED]),
        same_text=texts[TRANSCRIBE].text == texts[DIARIZED].text,
    )


def _speakers(transcript: Transcript) -> int:
    turns = transcript.diarization
    return turns.speakers if turns is not None else 0
