"""One input to decode, whatever form it came in: a path, bytes, or a binary file object."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from echoic.errors import AudioError

#: What :func:`echoic.audio.decode_audio` and :func:`echoic.audio.probe_audio` accept.
AudioSource = str | os.PathLike[str] | bytes | BinaryIO


@dataclass(frozen=True, kw_only=True)
class MediaSource:
    """A readable, seekable input with a size, and the name errors should mention.

    ``av_input`` is what :func:`av.open` receives: the path itself (FFmpeg reads files faster
    than through Python callbacks) or a seekable file object.
    """

    av_input: str | BinaryIO
    size: int
    label: str | None

    @classmethod
    def of(cls, source: AudioSource) -> MediaSource:
        if isinstance(source, bytes | bytearray | memoryview):
            return cls(av_input=io.BytesIO(source), size=len(source), label=None)
        if isinstance(source, str | os.PathLike):
            return cls._of_path(Path(source))
        return cls._of_file(source)

    @classmethod
    def _of_path(cls, path: Path) -> MediaSource:
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise AudioError(f"no such file: {path}") from None
        except OSError as exc:
            raise AudioError(f"cannot read {path}: {exc.strerror}") from exc
        if not path.is_file():
            raise AudioError(f"not a regular file: {path}")
        return cls(av_input=str(path), size=stat.st_size, label=path.name)

    @classmethod
    def _of_file(cls, file: BinaryIO) -> MediaSource:
        name = getattr(file, "name", None)
        label = Path(name).name if isinstance(name, str) else None
        if not file.seekable():
            # Most containers need to seek (MP4 often keeps its index at the end), so a
            # one-way stream is read into memory first.
            data = file.read()
            return cls(av_input=io.BytesIO(data), size=len(data), label=label)
        size = file.seek(0, io.SEEK_END)
        file.seek(0)  # decode the whole file, wherever the caller left the position
        return cls(av_input=file, size=size, label=label)

    def read_at(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``offset``, leaving any file object's position unchanged."""
        offset = max(0, offset)
        if isinstance(self.av_input, str):
            with open(self.av_input, "rb") as file:
                file.seek(offset)
                return file.read(size)
        position = self.av_input.tell()
        try:
            self.av_input.seek(offset)
            return self.av_input.read(size)
        finally:
            self.av_input.seek(position)

    def tail(self, size: int) -> bytes:
        return self.read_at(self.size - size, size)

    def describe(self, problem: str) -> str:
        """An error message naming the file when there is a name to give."""
        return f"{self.label}: {problem}" if self.label else problem
