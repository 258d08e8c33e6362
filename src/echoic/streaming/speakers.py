"""Voice embeddings for live streams that diarize: the speaker encoder, shared by the process.

A diarizing stream labels each final with its speaker (:mod:`echoic.diarize.online`), from an
embedding of the utterance's audio that the runner computes while the final is decoded: the
decode takes hundreds of milliseconds, the embedding tens, so the final is not later for it.
The encoder is loaded on the first stream that asks (a server whose clients never diarize never
reads its weights) and runs on its own small pool of threads, so that an embedding never waits
behind a decode for a thread, nor blocks the event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from echoic.errors import ModelError
from echoic.types import Audio

Vector = npt.NDArray[np.float32]


@runtime_checkable
class UtteranceEmbedder(Protocol):
    """What a live stream needs of a diarizer (:class:`~echoic.diarize.diarizer.Diarizer`):
    thread-safe and blocking."""

    def embed_speech(self, audio: Audio) -> Vector | None: ...


class SpeakerEmbeddings:
    """The process's :class:`UtteranceEmbedder`, made by ``load`` on first use (thread-safe; a
    load that fails, for want of the voice encoder, is tried again next time)."""

    def __init__(self, load: Callable[[], UtteranceEmbedder], *, threads: int = 2) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._embedder: UtteranceEmbedder | None = None
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="echoic-speakers")

    @classmethod
    def of(cls, embedder: UtteranceEmbedder) -> SpeakerEmbeddings:
        """Embeddings from ``embedder``, already loaded (tests, embedding echoic)."""
        return cls(lambda: embedder)

    def load(self) -> UtteranceEmbedder:
        """The embedder (blocking: the first call loads it); raises
        :class:`~echoic.errors.ModelNotInstalledError` naming the install command."""
        with self._lock:
            if self._embedder is None:
                self._embedder = self._load()
            return self._embedder

    async def embed(self, audio: Audio) -> Vector | None:
        """The voice embedding of one utterance, on the pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._embed, audio)

    def _embed(self, audio: Audio) -> Vector | None:
        return self.load().embed_speech(audio)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def installed_voice_encoder(models_dir: Path) -> SpeakerEmbeddings:
    """Embeddings from the voice encoder installed under ``models_dir``, loaded on first use."""

    def load() -> UtteranceEmbedder:
        # Imported here: the diarizer brings scikit-learn, two seconds of a server's start.
        from echoic.diarize.diarizer import load_diarizer

        return load_diarizer(models_dir)

    return SpeakerEmbeddings(load)


def embeddings_of(get: Callable[[], object]) -> SpeakerEmbeddings:
    """Embeddings from the diarizer ``get`` returns (a server's
    :class:`~echoic.diarize.runner.DiarizerSlot`: loaded on first use, for requests and live
    streams alike), which must embed utterances."""

    def load() -> UtteranceEmbedder:
        diarizer = get()
        if not isinstance(diarizer, UtteranceEmbedder):
            raise ModelError(
                f"this server's diarizer ({type(diarizer).__name__}) cannot label live streams"
            )
        return diarizer

    return SpeakerEmbeddings(load)
