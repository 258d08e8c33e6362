"""A diarizer with fixed answers, for tests and demos (like
:class:`~echoic.engines.scripted.ScriptedEngine`): no model, no audio analysis.

    ScriptedDiarizer.alternating(2, every_s=5.0)   # SPEAKER_00, SPEAKER_01, … every 5 s

Every call is recorded in ``calls`` (the audio's length and the count asked for).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from echoic.diarize.types import SpeakerCount, SpeakerTurns, Turn, speaker_name
from echoic.types import SAMPLE_RATE, Audio


@dataclass(frozen=True, kw_only=True)
class DiarizeCall:
    duration_s: float
    count: SpeakerCount
    thread: str
    started_at: float  # time.monotonic()


@dataclass
class ScriptedDiarizer:
    """Answers ``turns`` (cut to the audio's length); with ``every_s``, alternates ``speakers``
    speakers over the whole audio instead."""

    turns_: SpeakerTurns = field(default_factory=SpeakerTurns)
    speakers: int = 0
    every_s: float = 0.0
    delay_s: float = 0.0
    calls: list[DiarizeCall] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def alternating(
        cls, speakers: int, *, every_s: float, delay_s: float = 0.0
    ) -> ScriptedDiarizer:
        return cls(speakers=speakers, every_s=every_s, delay_s=delay_s)

    def turns(self, audio: Audio, count: SpeakerCount) -> SpeakerTurns:
        duration = len(audio) / SAMPLE_RATE
        with self._lock:
            self.calls.append(
                DiarizeCall(
                    duration_s=duration,
                    count=count,
                    thread=threading.current_thread().name,
                    started_at=time.monotonic(),
                )
            )
        if self.delay_s:
            time.sleep(self.delay_s)
        if not self.every_s or not self.speakers:
            return SpeakerTurns(turns=tuple(t for t in self.turns_.turns if t.start < duration))
        turns = []
        start, n = 0.0, 0
        while start < duration:
            end = min(duration, start + self.every_s)
            turns.append(Turn(start=start, end=end, speaker=speaker_name(n % self.speakers)))
            start, n = end, n + 1
        return SpeakerTurns(turns=tuple(turns))
