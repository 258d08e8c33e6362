"""What diarization asks for and what it finds (pure data).

A request may name the number of speakers exactly (``num_speakers``) or bound it
(``min_speakers``/``max_speakers``); :class:`SpeakerCount` checks the combination once, at the
edge, so that every caller (REST, jobs, CLI, live) rejects the same bad values with the same
message. :class:`SpeakerTurns` is the diarizer's answer for one audio: who spoke when, on the
audio's own time line, independent of any transcript (:mod:`echoic.diarize.labels` puts the two
together).
"""

from __future__ import annotations

from dataclasses import dataclass

from echoic.errors import InvalidParameterError

#: The most speakers one request may ask for or allow.
MAX_SPEAKERS = 32
#: Cosine distance at which two groups of windows stop being one voice, by average linkage
#: (:mod:`echoic.diarize.cluster` explains the choice; here so that live streams, which cluster
#: online, need not import scikit-learn).
DEFAULT_THRESHOLD = 0.4


def speaker_name(index: int) -> str:
    """``SPEAKER_00``, ``SPEAKER_01``, … (pyannote's and WhisperX's naming)."""
    return f"SPEAKER_{index:02d}"


@dataclass(frozen=True, kw_only=True)
class SpeakerCount:
    """How many speakers a request expects; ``None`` everywhere: find out."""

    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None

    def __post_init__(self) -> None:
        for param in ("num_speakers", "min_speakers", "max_speakers"):
            value = getattr(self, param)
            if value is not None and not 1 <= value <= MAX_SPEAKERS:
                raise InvalidParameterError(
                    f"'{param}' must be between 1 and {MAX_SPEAKERS}, got {value}.", param=param
                )
        lo, hi = self.min_speakers, self.max_speakers
        if lo is not None and hi is not None and hi < lo:
            raise InvalidParameterError(
                f"'max_speakers' ({hi}) must not be below 'min_speakers' ({lo}).",
                param="max_speakers",
            )
        n = self.num_speakers
        if n is not None and ((lo is not None and n < lo) or (hi is not None and n > hi)):
            raise InvalidParameterError(
                f"'num_speakers' ({n}) is outside 'min_speakers'..'max_speakers'.",
                param="num_speakers",
            )

    @property
    def bounds(self) -> tuple[int, int]:
        """The allowed range of the number of speakers, ``(lo, hi)`` inclusive."""
        if self.num_speakers is not None:
            return self.num_speakers, self.num_speakers
        return self.min_speakers or 1, self.max_speakers or MAX_SPEAKERS


@dataclass(frozen=True, kw_only=True)
class Turn:
    """One stretch of speech by one speaker, in seconds from the start of the audio."""

    start: float
    end: float
    speaker: str


@dataclass(frozen=True, kw_only=True)
class SpeakerTurns:
    """Who spoke when: turns in time order, never overlapping; ``speakers`` distinct labels."""

    turns: tuple[Turn, ...] = ()

    @property
    def speakers(self) -> int:
        return len({t.speaker for t in self.turns})
