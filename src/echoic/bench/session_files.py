"""The session files the streaming benchmarks feed: ``session_NN.wav`` with a ``.json`` sidecar
holding each utterance's timed reference (``speech_start_s``, ``speech_end_s``, ``text``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from echoic.bench.stream_metrics import Reference


@dataclass(frozen=True, kw_only=True)
class SessionFile:
    name: str
    audio: Path
    references: tuple[Reference, ...]
    text: str  # the whole session's reference text

    @classmethod
    def load(cls, wav: Path) -> SessionFile:
        sidecar = wav.with_suffix(".json")
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            references = tuple(
                Reference(
                    id=str(s["id"]),
                    speech_start_s=float(s["speech_start_s"]),
                    speech_end_s=float(s["speech_end_s"]),
                    text=str(s["text"]),
                )
                for s in meta["segments"]
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{sidecar}: not a session sidecar ({exc!r})") from exc
        text = str(meta.get("text") or " ".join(r.text for r in references))
        return cls(name=wav.stem, audio=wav, references=references, text=text)

    def looped(self, times: int, duration_s: float) -> SessionFile:
        """The session played ``times`` times back to back (``duration_s`` each): references
        shifted, ids suffixed ``#n``. The audio is the caller's (``np.tile``)."""
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        if times == 1:
            return self
        references = tuple(
            replace(
                r,
                id=f"{r.id}#{n + 1}",
                speech_start_s=r.speech_start_s + n * duration_s,
                speech_end_s=r.speech_end_s + n * duration_s,
            )
            for n in range(times)
            for r in self.references
        )
        return replace(
            self,
            name=f"{self.name}×{times}",
            references=references,
            text=" ".join([self.text] * times),
        )


def session_files(paths: tuple[Path, ...]) -> list[SessionFile]:
    """Expand directories to their sessions (sorted); raise if nothing is left."""
    wavs: list[Path] = []
    for path in paths:
        if path.is_dir():
            wavs += sorted(p for p in path.glob("*.wav") if p.with_suffix(".json").is_file())
        else:
            wavs.append(path)
    if not wavs:
        raise ValueError(f"no session (*.wav with a .json sidecar) in {', '.join(map(str, paths))}")
    return [SessionFile.load(p.resolve()) for p in dict.fromkeys(wavs)]
