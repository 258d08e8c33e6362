"""The two contenders of every comparison, timed the same way.

Both run on the same loaded ``WhisperModel`` with the same decoding options
(:func:`echoic.engines.faster_whisper.decode_kwargs`), start from the file path (so both include
decoding) and are timed until the last segment is out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from echoic.batch import transcribe_file
from echoic.engines.faster_whisper import FasterWhisperEngine, decode_kwargs
from echoic.types import TranscribeOptions, clean_text


@dataclass(frozen=True, kw_only=True)
class Run:
    text: str
    seconds: float
    batched: bool


def run_echoic(engine: FasterWhisperEngine, path: Path, options: TranscribeOptions) -> Run:
    """Echoic's batch path, as the CLI and the REST API use it."""
    started = time.perf_counter()
    transcript = transcribe_file(engine, path, options)
    seconds = time.perf_counter() - started
    return Run(text=transcript.text, seconds=seconds, batched=transcript.metadata.batched)


class PlainWhisper:
    """Stock faster-whisper on an already loaded ``WhisperModel``: the reference to beat."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self._pipeline: Any = None

    def run(self, path: Path, options: TranscribeOptions, *, batched: bool) -> Run:
        kwargs = decode_kwargs(options)
        started = time.perf_counter()
        if batched:
            segments, _info = self._batched().transcribe(
                str(path), batch_size=options.batch_size, **kwargs
            )
        else:
            segments, _info = self._model.transcribe(str(path), **kwargs)
        # The segments come from a generator: decoding happens while it is consumed.
        text = clean_text(" ".join(seg.text for seg in segments))
        seconds = time.perf_counter() - started
        return Run(text=text, seconds=seconds, batched=batched)

    def _batched(self) -> Any:
        if self._pipeline is None:
            from faster_whisper import BatchedInferencePipeline

            self._pipeline = BatchedInferencePipeline(model=self._model)
        return self._pipeline
