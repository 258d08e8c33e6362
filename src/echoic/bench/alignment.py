"""Word times of manifest utterances from a Whisper model, cached in a JSON file.

The one impure step of building paused sessions: :func:`echoic.bench.pauses.candidate_cuts`
takes the words this returns. The cache is keyed by utterance id and the audio's SHA-256, and
records the model, so that a rebuild reuses the same words (and so the same cuts, and bytes).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from echoic.bench.manifest import Utterance
from echoic.bench.pauses import TimedWord
from echoic.engines.faster_whisper import FasterWhisperEngine
from echoic.types import Audio, TranscribeOptions

#: Word times of one utterance, given its decoded audio.
Aligner = Callable[[Utterance, Audio], list[TimedWord]]

ALIGN_OPTIONS = TranscribeOptions(
    language="en", word_timestamps=True, vad_filter=False, beam_size=5, temperature=0.0
)


def audio_sha256(audio: Audio) -> str:
    return hashlib.sha256(np.ascontiguousarray(audio, dtype=np.float32).tobytes()).hexdigest()


class CachedAligner:
    """An :data:`Aligner` that transcribes with ``engine`` (``word_timestamps=True``) only what
    ``cache`` lacks, and writes each new alignment to it at once."""

    def __init__(self, engine: Callable[[], FasterWhisperEngine], model: str, cache: Path) -> None:
        self._load = engine
        self._engine: FasterWhisperEngine | None = None
        self.model = model
        self.cache = cache
        self._entries: dict[str, Any] = {}
        if cache.is_file():
            stored = json.loads(cache.read_text(encoding="utf-8"))
            if stored.get("model") == model:
                self._entries = dict(stored.get("utterances", {}))
        self.transcribed = 0

    def __call__(self, utterance: Utterance, audio: Audio) -> list[TimedWord]:
        digest = audio_sha256(audio)
        entry = self._entries.get(utterance.id)
        if entry is None or entry.get("audio_sha256") != digest:
            if self._engine is None:
                self._engine = self._load()
            transcript = self._engine.transcribe_sync(audio, ALIGN_OPTIONS)
            words = [[w.word, round(w.start, 3), round(w.end, 3)] for w in transcript.words or ()]
            entry = {"audio_sha256": digest, "text": transcript.text, "words": words}
            self._entries[utterance.id] = entry
            self.transcribed += 1
            self._save()
        return [
            TimedWord(word=str(w), start_s=float(s), end_s=float(e)) for w, s, e in entry["words"]
        ]

    def _save(self) -> None:
        self.cache.parent.mkdir(parents=True, exist_ok=True)
        data = {"model": self.model, "utterances": dict(sorted(self._entries.items()))}
        self.cache.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", "utf-8")
