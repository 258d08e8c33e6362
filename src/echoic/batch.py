"""The batch path: a file in, a transcript out. The CLI, the job worker and the REST API use it."""

from __future__ import annotations

import os
from typing import BinaryIO, Protocol

from echoic.audio import decode_audio
from echoic.engines.base import ProgressCallback
from echoic.types import Audio, TranscribeOptions, Transcript

Source = str | os.PathLike[str] | bytes | BinaryIO


class SyncEngine(Protocol):
    def transcribe_sync(
        self,
        audio: Audio,
        options: TranscribeOptions,
        *,
        progress: ProgressCallback | None = None,
    ) -> Transcript: ...


def transcribe_file(
    engine: SyncEngine,
    source: Source,
    options: TranscribeOptions,
    *,
    max_duration_s: float | None = None,
    progress: ProgressCallback | None = None,
) -> Transcript:
    """Decode ``source`` (any container/codec) and transcribe it, blocking the calling thread."""
    audio = decode_audio(source, max_duration_s=max_duration_s)
    return engine.transcribe_sync(audio, options, progress=progress)
