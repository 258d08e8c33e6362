"""How well the words tell where a turn ends (issue 13): every pause the live VAD finds in session
files, with what the speculative final says at it, scored against end-of-turn policies.

A pause is where the endpointer's trailing silence reached the speculative point
(:class:`~echoic.vad.state.SpeechPaused`). It lies *inside* a reference utterance when speech
resumes before that reference's speech ends (ending the turn there splits the reference), and
*after* one otherwise (the turn should end there, as soon as possible). At each pause the
confirming model decodes the open reference up to the pause with the live final settings, as the
speculative final would, and :func:`~echoic.streaming.turn.turn_cue` reads its text.

A policy (``end_of_sentence_ms``, ``silence_ms``, ``mid_sentence_ms``) then splits every inside
pause at least as long as its cue's wait and merges every end pause shorter than it; the wait at
each end pause is what the user waits on top of the VAD's lag and the decode. :func:`score` is
pure; :func:`collect_pauses` runs the models.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from echoic.audio.decode import decode_audio
from echoic.bench.session_files import SessionFile
from echoic.bench.stream_metrics import Reference
from echoic.engines.faster_whisper import FasterWhisperEngine
from echoic.streaming.config import StreamConfig
from echoic.streaming.turn import TurnCue, required_silence_ms, turn_cue
from echoic.types import SAMPLE_RATE
from echoic.vad.detector import SpeechDetector
from echoic.vad.state import Endpointer, SpeechEnded, SpeechPaused, SpeechResumed, VadConfig

#: How far the VAD's silence may start before a reference's estimated speech end and still be
#: that reference's end (the estimate is energy-based, ±20–40 ms).
END_SLACK_S = 0.05


@dataclass(frozen=True, kw_only=True)
class Pause:
    session: str
    #: The reference utterance the silence started in (or after).
    reference: str
    silence_start_s: float
    duration_s: float
    inside: bool
    text: str
    cue: TurnCue


@dataclass(frozen=True, kw_only=True)
class Policy:
    end_of_sentence_ms: int
    silence_ms: int
    mid_sentence_ms: int

    @classmethod
    def parse(cls, text: str) -> Policy:
        """``450/450/1200``: end of sentence / unknown / mid-sentence, in ms."""
        try:
            eos, silence, mid = (int(part) for part in text.split("/"))
        except ValueError as exc:
            raise ValueError(
                f"{text!r}: expected END/UNKNOWN/MID in ms, e.g. 450/450/1200"
            ) from exc
        policy = cls(end_of_sentence_ms=eos, silence_ms=silence, mid_sentence_ms=mid)
        policy.vad()  # validates the order
        return policy

    def vad(self) -> VadConfig:
        return VadConfig(
            silence_ms=self.silence_ms,
            end_of_sentence_ms=self.end_of_sentence_ms,
            mid_sentence_ms=self.mid_sentence_ms,
            speculative_silence_ms=min(200, self.end_of_sentence_ms),
            tail_ms=min(100, self.end_of_sentence_ms),
        )

    @property
    def label(self) -> str:
        return f"{self.end_of_sentence_ms}/{self.silence_ms}/{self.mid_sentence_ms}"


@dataclass(frozen=True, kw_only=True)
class PolicyScore:
    policy: Policy
    #: Inside pauses the policy ends a turn at (each splits its reference).
    splits: int
    #: References split at least once.
    split_references: int
    #: End pauses shorter than the wait (two references become one final).
    merges: int
    #: The wait at end pauses, ms: P50 and P95.
    wait_p50_ms: float
    wait_p95_ms: float


@dataclass(frozen=True, kw_only=True)
class TurnsResult:
    kind: str = "turns"
    model: str
    sets: dict[str, list[Pause]]
    scores: dict[str, list[PolicyScore]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self.model,
            "cues": {name: cue_counts(pauses) for name, pauses in self.sets.items()},
            "scores": {
                name: [{**asdict(s), "policy": s.policy.label} for s in scores]
                for name, scores in self.scores.items()
            },
            "pauses": {
                name: [{**asdict(p), "cue": p.cue.value} for p in pauses]
                for name, pauses in self.sets.items()
            },
        }


def reference_at(silence_start_s: float, references: tuple[Reference, ...]) -> Reference | None:
    """The reference a silence starting at ``silence_start_s`` follows or interrupts."""
    started = [r for r in references if r.speech_start_s < silence_start_s + END_SLACK_S]
    return max(started, key=lambda r: r.speech_start_s) if started else None


def is_inside(resumed_s: float, reference: Reference) -> bool:
    """Whether speech resumed before ``reference`` had ended: ending the turn splits it."""
    return resumed_s < reference.speech_end_s - END_SLACK_S


def cue_counts(pauses: list[Pause]) -> dict[str, dict[str, int]]:
    """How many inside and end pauses got each cue."""
    counts: dict[str, dict[str, int]] = {}
    for where in ("inside", "end"):
        chosen = [p.cue.value for p in pauses if p.inside is (where == "inside")]
        counts[where] = {cue.value: Counter(chosen)[cue.value] for cue in TurnCue}
    return counts


def score(pauses: list[Pause], policy: Policy) -> PolicyScore:
    """What ``policy`` does at ``pauses`` (pure)."""
    vad = policy.vad()

    def wait_ms(pause: Pause) -> int:
        return required_silence_ms(pause.cue, vad)

    split = [p for p in pauses if p.inside and p.duration_s * 1000 >= wait_ms(p)]
    ends = [p for p in pauses if not p.inside]
    waits = [wait_ms(p) for p in ends] or [0]
    return PolicyScore(
        policy=policy,
        splits=len(split),
        split_references=len({(p.session, p.reference) for p in split}),
        merges=sum(1 for p in ends if p.duration_s * 1000 < wait_ms(p)),
        wait_p50_ms=float(np.percentile(waits, 50)),
        wait_p95_ms=float(np.percentile(waits, 95)),
    )


def collect_pauses(
    session: SessionFile,
    engine: FasterWhisperEngine,
    detector: SpeechDetector,
    config: StreamConfig,
) -> list[Pause]:
    """Every pause of ``session`` the live VAD finds, with the speculative final's words there.

    The endpointer waits longer than any gap, so that every pause is seen; each decode starts at
    the pre-roll before the reference the pause belongs to (what the live stream decodes when no
    earlier pause ended the turn).
    """
    audio = decode_audio(session.audio)
    vad = replace(config.vad, silence_ms=5000, end_of_sentence_ms=None, mid_sentence_ms=None)
    endpointer = Endpointer(vad)
    detector.reset()
    window = vad.window_samples
    pauses: list[Pause] = []
    paused: SpeechPaused | None = None
    for end in range(window, len(audio) + 1, window):
        probability = detector.probability(audio[end - window : end])
        for event in endpointer.push(probability, end):
            if isinstance(event, SpeechPaused):
                paused = event
            elif isinstance(event, SpeechResumed | SpeechEnded) and paused is not None:
                resumed = event.at_sample if isinstance(event, SpeechResumed) else end
                pause = _pause(session, audio, paused, resumed, engine, config)
                if pause is not None:
                    pauses.append(pause)
                paused = None
    return pauses


def _pause(
    session: SessionFile,
    audio: np.ndarray[Any, np.dtype[np.float32]],
    paused: SpeechPaused,
    resumed_sample: int,
    engine: FasterWhisperEngine,
    config: StreamConfig,
) -> Pause | None:
    silence_start = paused.silence_start_sample / SAMPLE_RATE
    reference = reference_at(silence_start, session.references)
    if reference is None:
        return None  # a noise blip before the first reference
    begin = max(0, round((reference.speech_start_s * 1000 - config.vad.pre_roll_ms) * 16))
    transcript = engine.transcribe_sync(audio[begin : paused.end_sample], config.final_options)
    language = config.final_options.language or transcript.language or "en"
    return Pause(
        session=session.name,
        reference=reference.id,
        silence_start_s=round(silence_start, 3),
        duration_s=round((resumed_sample - paused.silence_start_sample) / SAMPLE_RATE, 3),
        inside=is_inside(resumed_sample / SAMPLE_RATE, reference),
        text=transcript.text,
        cue=turn_cue(transcript.text, language),
    )


def load_pauses(path: Path) -> dict[str, list[Pause]]:
    """The pauses of an earlier report (re-score policies without decoding again)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return {
        name: [Pause(**{**p, "cue": TurnCue(p["cue"])}) for p in pauses]
        for name, pauses in data["pauses"].items()
    }
