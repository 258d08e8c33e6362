"""What diarization adds to a batch transcription, measured side by side (EVAL.md: a ratio of
one interleaved run).

Contenders on one long file, each from the file path, models loaded:

- **transcribe**: the batch path alone (``transcribe_file``) with the options as asked;
- **transcribe + diarize**: what ``diarization=true`` does (:func:`echoic.diarize.runner.
  with_speakers_sync`, the CLI's path; the server and the worker run the same threads under
  asyncio): the file decoded once, transcribed on this thread with the same options while
  ``Diarizer.turns`` runs on another, then each segment two speakers share decoded again alone
  with word timings (``words_for``, as the CLI does) and the words labelled;
- **diarize**: decoding and ``turns`` alone, for scale.

Within each repeat they run back to back, in reversed order on odd repeats, so that drift in
machine load hits all alike. The figure is ``median(transcribe + diarize) / median(transcribe)
− 1`` (issue 16's target: under 25 % with tiny.en on the dev long-form reading), beside the
median of each repeat's own ratio and the same ratio of the process's CPU seconds (on a machine
shared with other work the wall-time ratios move with its load; the CPU seconds hardly do).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from echoic.audio.decode import decode_audio
from echoic.batch import SyncEngine, transcribe_file
from echoic.bench.speed import Timing
from echoic.diarize.runner import SpeakerFinder, with_speakers_sync
from echoic.diarize.types import SpeakerCount
from echoic.diarize.words import clip_options, engine_words_sync
from echoic.types import SAMPLE_RATE, Audio, Segment, TranscribeOptions, Transcript

TRANSCRIBE, DIARIZED, DIARIZE = "transcribe", "transcribe + diarize", "diarize"
CONTENDERS = (TRANSCRIBE, DIARIZED, DIARIZE)
WARMUP_S = 30.0  # the warm-up runs on the file's first 30 s: lazy setup, not the measurement

#: Called after every timed run with (contender, wall seconds).
RunCallback = Callable[[str, float], None]


@dataclass(frozen=True, kw_only=True)
class LongformTiming:
    path: Path
    duration_s: float
    model: str
    options: TranscribeOptions
    count: SpeakerCount
    #: Wall seconds of each contender.
    timings: dict[str, Timing]
    #: The process's CPU seconds (all threads) of each run.
    cpu: dict[str, Timing]
    #: Speakers the diarized transcript names, and whether it has the words of the plain one.
    speakers: int
    same_text: bool
    #: Segments two speakers shared, decoded again with word timings (in each diarized run).
    redecoded: int

    @property
    def added(self) -> float:
        """What ``diarization`` adds to the transcription's wall time (0.2: 20 % more)."""
        return self._ratio(self.timings, DIARIZED, TRANSCRIBE)

    @property
    def added_paired(self) -> float:
        """The median of each repeat's own ratio (the runs of one repeat are back to back, so
        drift in machine load between repeats cancels out)."""
        pairs = zip(self.timings[DIARIZED].times_s, self.timings[TRANSCRIBE].times_s, strict=True)
        return statistics.median(d / t - 1 for d, t in pairs)

    @property
    def added_cpu(self) -> float:
        """What ``diarization`` adds to the transcription's CPU seconds (medians)."""
        return self._ratio(self.cpu, DIARIZED, TRANSCRIBE)

    @staticmethod
    def _ratio(timings: dict[str, Timing], over: str, base: str) -> float:
        return timings[over].median_s / timings[base].median_s - 1

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
            "cpu_s": {name: t.to_dict() for name, t in self.cpu.items()},
            "added": round(self.added, 4),
            "added_paired": round(self.added_paired, 4),
            "added_cpu": round(self.added_cpu, 4),
            "speakers": self.speakers,
            "same_text": self.same_text,
            "redecoded_segments": self.redecoded,
        }


def time_longform(
    engine: SyncEngine,
    diarizer: SpeakerFinder,
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
    words_options = clip_options(options)
    if warmup:
        head = audio[: round(WARMUP_S * SAMPLE_RATE)]
        engine.transcribe_sync(head, options)
        engine.transcribe_sync(head, words_options)
        diarizer.turns(head, count)
    texts: dict[str, Transcript] = {}
    redecoded: list[int] = []

    find_words = engine_words_sync(engine, options)

    def words_for(clip: Audio, segment: Segment, language: str | None) -> Transcript:
        redecoded[-1] += 1
        return find_words(clip, segment, language)

    def transcribe() -> None:
        texts[TRANSCRIBE] = transcribe_file(engine, path, options)

    def diarized() -> None:
        samples = decode_audio(path)
        redecoded.append(0)
        texts[DIARIZED] = with_speakers_sync(
            lambda: engine.transcribe_sync(samples, options), samples, diarizer, count, words_for
        )

    def diarize() -> None:
        diarizer.turns(decode_audio(path), count)

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
    diarization = texts[DIARIZED].diarization
    return LongformTiming(
        path=path,
        duration_s=duration_s,
        model=model,
        options=options,
        count=count,
        timings={n: Timing(times_s=tuple(times[n]), audio_s=duration_s) for n in CONTENDERS},
        cpu={n: Timing(times_s=tuple(cpu[n]), audio_s=duration_s) for n in CONTENDERS},
        speakers=diarization.speakers if diarization is not None else 0,
        same_text=texts[TRANSCRIBE].text == texts[DIARIZED].text,
        redecoded=max(redecoded),
    )
