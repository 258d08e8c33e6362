"""RTTM, the NIST speaker-turn format every diarization tool reads and writes (pure).

One ``SPEAKER`` line per turn: ``SPEAKER <file> <channel> <start s> <duration s> <NA> <NA>
<speaker> <NA> <NA>``. Reference turns may overlap (two people talking at once); a hypothesis
from :class:`~echoic.diarize.types.SpeakerTurns` never does.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from echoic.diarize.types import Turn


def parse_rttm(text: str, *, source: str = "<rttm>") -> dict[str, tuple[Turn, ...]]:
    """The turns of each file named in ``text``, in time order; other line types are skipped.

    Raises ``ValueError`` naming the line of a malformed ``SPEAKER`` entry.
    """
    files: dict[str, list[Turn]] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0] != "SPEAKER":
            continue
        try:
            if len(fields) < 8:
                raise ValueError(f"{len(fields)} fields, need at least 8")
            start, duration = float(fields[3]), float(fields[4])
            if start < 0 or duration < 0:
                raise ValueError("negative start or duration")
        except ValueError as exc:
            raise ValueError(f"{source}:{lineno}: not an RTTM SPEAKER line ({exc})") from exc
        turn = Turn(start=start, end=start + duration, speaker=fields[7])
        files.setdefault(fields[1], []).append(turn)
    return {
        name: tuple(sorted(turns, key=lambda t: (t.start, t.end, t.speaker)))
        for name, turns in files.items()
    }


def read_rttm(path: Path) -> tuple[Turn, ...]:
    """The turns of a one-file RTTM (whatever file name its lines carry)."""
    files = parse_rttm(path.read_text(encoding="utf-8"), source=str(path))
    if len(files) > 1:
        raise ValueError(f"{path}: turns of {len(files)} files ({', '.join(files)}), expected one")
    return next(iter(files.values()), ())


def format_rttm(file_id: str, turns: Iterable[Turn]) -> str:
    """RTTM lines for ``turns`` (times to the millisecond, as the dev references)."""
    if not file_id or any(c.isspace() for c in file_id):
        raise ValueError(f"an RTTM file id has no spaces: {file_id!r}")
    return "".join(
        f"SPEAKER {file_id} 1 {t.start:.3f} {t.end - t.start:.3f} <NA> <NA> {t.speaker} <NA> <NA>\n"
        for t in turns
    )
