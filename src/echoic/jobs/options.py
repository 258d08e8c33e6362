"""What a job asks for: the options of ``/v1/audio/transcriptions``, kept with the job as JSON
(diarization and the speaker counts included).

The server validates them before the job is queued (the same checks as a direct request); the
worker turns them into :class:`~echoic.types.TranscribeOptions` with the settings' defaults.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from echoic.diarize.types import SpeakerCount
from echoic.types import SttMode, Task, TranscribeOptions


@dataclass(frozen=True, kw_only=True)
class JobOptions:
    model: str | None = None  # None: the server's default
    task: Task = Task.TRANSCRIBE
    language: str | None = None
    prompt: str | None = None
    temperature: float | None = None
    beam_size: int | None = None
    word_timestamps: bool = False
    stt_mode: SttMode | None = None
    #: Label segments with speakers; the counts as :class:`SpeakerCount` checks them.
    diarization: bool = False
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None

    def to_dict(self) -> dict[str, Any]:
        # ``diarization: false`` is left out, so jobs that never asked keep their old options.
        return {
            k: v
            for k, v in dataclasses.asdict(self).items()
            if v is not None and not (k == "diarization" and not v)
        }

    @property
    def speaker_count(self) -> SpeakerCount | None:
        """``None`` without diarization; raises :class:`InvalidParameterError` for bad counts."""
        if not self.diarization:
            return None
        return SpeakerCount(
            num_speakers=self.num_speakers,
            min_speakers=self.min_speakers,
            max_speakers=self.max_speakers,
        )

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> JobOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in body.items() if k in known}
        if "task" in values:
            values["task"] = Task(values["task"])
        if values.get("stt_mode") is not None:
            values["stt_mode"] = SttMode(values["stt_mode"])
        return cls(**values)

    def transcribe_options(
        self,
        *,
        beam_size: int,
        vad_filter: bool,
        batched_threshold_s: float,
        batch_size: int,
    ) -> TranscribeOptions:
        """With the server's defaults for what the job left open."""
        options = TranscribeOptions(
            language=self.language,
            task=self.task,
            prompt=self.prompt or None,
            beam_size=self.beam_size or beam_size,
            word_timestamps=self.word_timestamps,
            vad_filter=vad_filter,
            batched_threshold_s=batched_threshold_s,
            batch_size=batch_size,
            mode=self.stt_mode,
        )
        if self.temperature:
            options = dataclasses.replace(options, temperature=self.temperature)
        return options
