"""Laying clips out on a session's timeline, and the session's audio and sidecar (pure).

Integer samples throughout, so that every boundary in a sidecar is exact. A gap is the pause
the listener hears: from one utterance's speech end to the next one's speech start. Each clip
keeps at most ``edge_s`` of its own recording around its speech (the room, a breath), at most
half of the gap on either side, with 10 ms fades where it is trimmed; the background fills the
rest. The session opens with ``lead_s`` before the first speech and closes ``tail_s`` after the
last.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from echoic.bench.manifest import Utterance
from echoic.bench.pauses import Cut
from echoic.types import SAMPLE_RATE, Audio

EDGE_FADE_SAMPLES = 160  # 10 ms
PINK_FROM_HZ = 20.0  # below this the bed's spectrum is flat: no rumble, no DC


def samples_of(seconds: float) -> int:
    return round(seconds * SAMPLE_RATE)


def seconds(samples: int, digits: int = 4) -> float:
    return round(samples / SAMPLE_RATE, digits)


@dataclass(frozen=True, kw_only=True)
class Background:
    """What lies under the whole session: digital silence, or a pink noise bed at a level."""

    noise_dbfs: float | None = None

    @classmethod
    def parse(cls, text: str) -> Background:
        """``silence`` or ``noise-50dBFS`` (a −50 dBFS RMS bed; the sign is optional)."""
        if text.strip().lower() == "silence":
            return cls()
        match = re.fullmatch(r"noise-?(\d+(?:\.\d+)?)\s*dbfs", text.strip().lower())
        if match is None:
            raise ValueError(f"background must be 'silence' or like 'noise-50dBFS', not {text!r}")
        return cls(noise_dbfs=-float(match.group(1)))

    @property
    def label(self) -> str:
        return "silence" if self.noise_dbfs is None else f"noise{self.noise_dbfs:g}dBFS"

    def describe(self, seed: int) -> str:
        if self.noise_dbfs is None:
            return "digital silence"
        return (
            f"continuous pink (1/f) Gaussian noise bed at {self.noise_dbfs:g} dBFS RMS "
            f"(seed {seed}) under the whole file"
        )


def noise_bed(samples: int, dbfs: float, rng: np.random.Generator) -> Audio:
    """``samples`` of seeded pink noise at ``dbfs`` RMS (white noise shaped in one FFT)."""
    if samples <= 0:
        return np.zeros(0, dtype=np.float32)
    spectrum = np.fft.rfft(rng.standard_normal(samples))
    frequencies = np.fft.rfftfreq(samples, 1 / SAMPLE_RATE)
    spectrum /= np.sqrt(np.maximum(frequencies, PINK_FROM_HZ))
    spectrum[0] = 0.0
    pink = np.fft.irfft(spectrum, n=samples)
    rms = float(np.sqrt(np.mean(pink**2))) or 1.0
    return (pink * (10 ** (dbfs / 20) / rms)).astype(np.float32)


@dataclass(frozen=True, kw_only=True)
class Pause:
    """A pause put into a clip: its span in the clip's samples and where the source was cut."""

    first: int
    end: int
    cut: Cut


@dataclass(frozen=True, kw_only=True)
class Clip:
    """One utterance ready to place: its audio (pauses already in) and where its speech is."""

    utterance: Utterance
    audio: Audio
    speech_start: int
    speech_end: int
    pauses: tuple[Pause, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Placement:
    """``clip.audio[keep_first:keep_end]`` placed at session sample ``at``."""

    clip: Clip
    keep_first: int
    keep_end: int
    at: int

    @property
    def end(self) -> int:
        return self.at + self.keep_end - self.keep_first

    def session_sample(self, clip_sample: int) -> int:
        return self.at + clip_sample - self.keep_first

    @property
    def speech_start(self) -> int:
        return self.session_sample(self.clip.speech_start)

    @property
    def speech_end(self) -> int:
        return self.session_sample(self.clip.speech_end)


def lay_out(
    clips: Sequence[Clip], gaps: Sequence[int], *, lead: int, tail: int, edge: int
) -> tuple[list[Placement], int]:
    """Place ``clips`` with ``gaps[k]`` samples from clip k's speech end to clip k+1's speech
    start; returns the placements and the session's length in samples."""
    if len(gaps) != max(0, len(clips) - 1):
        raise ValueError(f"{len(clips)} clips need {max(0, len(clips) - 1)} gaps, not {len(gaps)}")
    if any(g <= 0 for g in gaps) or lead <= 0 or tail <= 0 or edge < 0:
        raise ValueError("gaps, lead and tail must be positive, edge not negative")
    before = [lead, *gaps]  # the pause on each side of each clip's speech
    after = [*gaps, tail]
    placements: list[Placement] = []
    speech_end = 0  # the previous clip's speech end in the session (0: the session start)
    for k, clip in enumerate(clips):
        keep_first = clip.speech_start - min(clip.speech_start, edge, before[k] // 2)
        keep_end = clip.speech_end + min(len(clip.audio) - clip.speech_end, edge, after[k] // 2)
        at = speech_end + before[k] - (clip.speech_start - keep_first)
        placement = Placement(clip=clip, keep_first=keep_first, keep_end=keep_end, at=at)
        placements.append(placement)
        speech_end = placement.speech_end
    return placements, speech_end + tail


def render(placements: Sequence[Placement], total: int, bed: Audio | None) -> Audio:
    """The session's samples: each kept span (faded where trimmed) over ``bed`` or silence."""
    audio = np.zeros(total, dtype=np.float32) if bed is None else bed.astype(np.float32)
    for p in placements:
        piece = p.clip.audio[p.keep_first : p.keep_end].astype(np.float32, copy=True)
        head = min(EDGE_FADE_SAMPLES, p.clip.speech_start - p.keep_first)
        tail = min(EDGE_FADE_SAMPLES, p.keep_end - p.clip.speech_end)
        if head > 0 and p.keep_first > 0:
            piece[:head] *= np.linspace(0.0, 1.0, head, endpoint=False, dtype=np.float32)
        if tail > 0 and p.keep_end < len(p.clip.audio):
            piece[len(piece) - tail :] *= np.linspace(1.0, 0.0, tail, dtype=np.float32)
        audio[p.at : p.end] += piece
    return audio


def segment(p: Placement) -> dict[str, Any]:
    """One utterance of a sidecar, in the dev sessions' shape (plus corpus, trim and pauses)."""
    u = p.clip.utterance
    entry: dict[str, Any] = {
        "id": u.id,
        "start_s": seconds(p.at),
        "end_s": seconds(p.end),
        "start_sample": p.at,
        "end_sample": p.end,
        "speech_start_s": seconds(p.speech_start),
        "speech_end_s": seconds(p.speech_end),
        "text": u.text,
        "text_norm": u.text_norm,
        "speaker": u.speaker,
        "corpus": u.subset,
        "source": u.source,
        "source_start_s": seconds(_source_sample(p.clip, p.keep_first)),
        "source_end_s": seconds(_source_sample(p.clip, p.keep_end)),
    }
    if p.clip.pauses:
        entry["pauses"] = [
            {
                "after_word": pause.cut.word,
                "source_cut_s": seconds(pause.cut.at),
                "natural_pause_s": round(pause.cut.quiet_s, 2),
                "start_s": seconds(p.session_sample(pause.first)),
                "end_s": seconds(p.session_sample(pause.end)),
                "pause_s": seconds(pause.end - pause.first),
            }
            for pause in p.clip.pauses
        ]
    return entry


def _source_sample(clip: Clip, clip_sample: int) -> int:
    """A clip sample's position in the source recording (pauses taken out)."""
    return clip_sample - sum(
        min(pause.end, clip_sample) - pause.first
        for pause in clip.pauses
        if clip_sample > pause.first
    )
