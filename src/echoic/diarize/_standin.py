"""A stand-in for ``echoic.diarize.labels`` and ``echoic.diarize.diarizer`` until they land
(deleted then): the interfaces are coded against their signatures."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import NoReturn

from echoic.diarize.types import SpeakerTurns
from echoic.errors import ModelNotInstalledError
from echoic.types import Diarization, Segment, Transcript


def label_transcript(transcript: Transcript, turns: SpeakerTurns) -> Transcript:
    """Each segment gets the speaker whose turns overlap it most (no splitting)."""

    def speaker_of(seg: Segment) -> str | None:
        overlap: dict[str, float] = {}
        for turn in turns.turns:
            shared = min(seg.end, turn.end) - max(seg.start, turn.start)
            if shared > 0:
                overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + shared
        return max(overlap, key=overlap.__getitem__) if overlap else None

    segments = tuple(replace(s, speaker=speaker_of(s)) for s in transcript.segments)
    used = {s.speaker for s in segments if s.speaker is not None}
    return replace(
        transcript, segments=segments, diarization=Diarization(enabled=True, speakers=len(used))
    )


def load_diarizer(models_dir: Path) -> NoReturn:
    raise ModelNotInstalledError(
        "Speaker diarization needs the voice encoder: run `echoic models install voice-encoder`."
    )
