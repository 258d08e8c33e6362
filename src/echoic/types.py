"""Core data: what a transcription asks for and what it returns (DESIGN.md §2).

Frozen, keyword-only dataclasses. Wire formats (JSON bodies, SRT, VTT) are produced from these by
:mod:`echoic.formats`; pydantic lives only at the edges.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16_000  # Hz: every model and VAD in echoic consumes 16 kHz mono float32

#: Decoded audio: 16 kHz mono float32 samples in [-1, 1].
Audio = npt.NDArray[np.float32]


class Task(StrEnum):
    TRANSCRIBE = "transcribe"
    TRANSLATE = "translate"


class SttMode(StrEnum):
    """Where transcription may run (DESIGN.md §4): the local engine first with remote fallback,
    only locally, or only on the remote provider."""

    AUTO = "auto"
    FORCE_LOCAL = "force_local"
    FORCE_CLOUD = "force_cloud"


class ResponseFormat(StrEnum):
    JSON = "json"
    TEXT = "text"
    SRT = "srt"
    VERBOSE_JSON = "verbose_json"
    VTT = "vtt"
    #: OpenAI's shape for its diarizing model: segments with ``speaker``; implies diarization.
    DIARIZED_JSON = "diarized_json"


@dataclass(frozen=True, kw_only=True)
class TranscribeOptions:
    """Everything a caller may choose about one transcription.

    ``batched`` is ``None`` for "decide by duration" (``batched_threshold_s``); long files then go
    through the VAD-chunked batched pipeline, short ones through the sequential decoder.
    """

    language: str | None = None
    task: Task = Task.TRANSCRIBE
    prompt: str | None = None
    temperature: float | tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    beam_size: int = 5
    word_timestamps: bool = False
    vad_filter: bool = True
    batched: bool | None = None
    batched_threshold_s: float = 60.0
    batch_size: int = 8
    #: ``None``: stock 30 s encoder windows. A number: right-size the encoder input to the audio
    #: plus this much padding (live utterances of at most 30 s; much faster, see engines/window).
    encoder_pad_s: float | None = None
    #: Routing (:class:`echoic.routing.Router`): ``None`` follows the server's mode. Engines that
    #: are not routers ignore it.
    mode: SttMode | None = None


@dataclass(frozen=True, kw_only=True)
class Word:
    word: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True, kw_only=True)
class Segment:
    id: int
    start: float
    end: float
    text: str
    confidence: float | None = None
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    temperature: float | None = None
    tokens: tuple[int, ...] = ()
    words: tuple[Word, ...] | None = None
    speaker: str | None = None


@dataclass(frozen=True, kw_only=True)
class Fallback:
    """A provider tier skipped on the way to a transcript (DESIGN.md §4: never silent)."""

    from_tier: str  # "local:cpu", "cloud", "client"
    to_tier: str | None  # the tier tried next; None when none was left
    reason: str  # "timeout", "error", "circuit_open", "grace_expired", …
    detail: str = ""

    def to_dict(self) -> dict[str, str | None]:
        return {
            "from": self.from_tier,
            "to": self.to_tier,
            "reason": self.reason,
            "detail": self.detail,
        }


@dataclass(frozen=True, kw_only=True)
class TranscriptMetadata:
    provider: str = "local"
    engine: str = "faster-whisper"
    model: str = ""
    device: str = "cpu"
    compute_type: str = ""
    queue_latency_ms: int = 0
    processing_ms: int = 0
    #: The tiers skipped before ``provider`` answered; ``None`` when the first tier did.
    fallback: tuple[Fallback, ...] | None = None
    batched: bool = False


@dataclass(frozen=True, kw_only=True)
class Diarization:
    """A transcript's ``diarization`` block: it was asked for, and how many speakers it found
    (0 for audio without speech)."""

    enabled: bool = True
    speakers: int = 0


@dataclass(frozen=True, kw_only=True)
class Transcript:
    text: str
    language: str | None
    duration: float
    segments: tuple[Segment, ...] = ()
    language_probability: float | None = None
    task: Task = Task.TRANSCRIBE
    metadata: TranscriptMetadata = field(default_factory=TranscriptMetadata)
    #: ``None``: diarization was not asked for (segments then carry no ``speaker``).
    diarization: Diarization | None = None

    @property
    def words(self) -> tuple[Word, ...] | None:
        if not self.segments or any(s.words is None for s in self.segments):
            return None
        return tuple(w for s in self.segments for w in (s.words or ()))

    @property
    def token_count(self) -> int:
        return sum(len(s.tokens) for s in self.segments)

    @property
    def avg_logprob(self) -> float | None:
        """The segments' average token log-probability, weighted by their token counts
        (``None`` when a segment has none, or there are no segments)."""
        scored = [(s.avg_logprob, max(1, len(s.tokens))) for s in self.segments]
        if not scored or any(lp is None for lp, _ in scored):
            return None
        return sum((lp or 0.0) * n for lp, n in scored) / sum(n for _, n in scored)

    def with_metadata(self, **changes: Any) -> Transcript:
        return replace(self, metadata=replace(self.metadata, **changes))


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Normalize one piece of model output: NFC, no control characters, single spaces, trimmed."""
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def join_segments(segments: tuple[Segment, ...] | list[Segment]) -> str:
    """The transcript's ``text``: the normalized join of its segments' texts."""
    return clean_text(" ".join(s.text for s in segments))


def build_transcript(
    *,
    segments: list[Segment],
    duration: float,
    language: str | None,
    language_probability: float | None = None,
    task: Task = Task.TRANSCRIBE,
    metadata: TranscriptMetadata | None = None,
) -> Transcript:
    """Assemble a transcript that keeps the DESIGN §2 invariants.

    Segment times are clamped into ``[0, duration]`` and made monotonic, texts are cleaned, empty
    segments dropped and ids renumbered from 0.
    """
    if not math.isfinite(duration) or duration < 0:
        duration = 0.0  # an unknown length cannot bound anything; times collapse to 0 as for NaN
    kept: list[Segment] = []
    last_end = 0.0
    for seg in segments:
        text = clean_text(seg.text)
        if not text:
            continue
        start = _clamp(seg.start, last_end, duration)
        end = _clamp(seg.end, start, duration)
        words = None
        if seg.words is not None:
            words = _clean_words(seg.words, start, end)
        speaker = clean_text(seg.speaker) or None if seg.speaker is not None else None
        kept.append(
            replace(
                seg, id=len(kept), start=start, end=end, text=text, words=words, speaker=speaker
            )
        )
        last_end = start  # segments may overlap slightly, but starts never go backwards
    return Transcript(
        text=join_segments(kept),
        language=language,
        language_probability=language_probability,
        duration=duration,
        segments=tuple(kept),
        task=task,
        metadata=metadata or TranscriptMetadata(),
    )


def _clean_words(words: tuple[Word, ...], lo: float, hi: float) -> tuple[Word, ...]:
    out: list[Word] = []
    last = lo
    for w in words:
        text = clean_text(w.word)
        if not text:
            continue
        start = _clamp(w.start, last, hi)
        end = _clamp(w.end, start, hi)
        out.append(Word(word=text, start=start, end=end, probability=_prob(w.probability)))
        last = start
    return tuple(out)


def _clamp(value: float, lo: float, hi: float) -> float:
    if math.isnan(value):
        return lo
    # Round first: rounding last could carry a time past ``hi`` (1.6875 -> 1.688).
    return min(max(round(value, 3), lo), max(lo, hi))


def _prob(p: float) -> float:
    return 0.0 if math.isnan(p) else min(1.0, max(0.0, p))


def logprob_to_confidence(avg_logprob: float) -> float:
    """A segment's confidence in [0, 1]: the geometric-mean token probability."""
    return round(_prob(math.exp(avg_logprob)), 4)


AudioEncoding = Literal["pcm_s16le", "pcm_f32le"]
