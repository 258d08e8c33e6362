"""Diarization beside a transcription (the asyncio glue of :mod:`echoic.diarize`).

The diarizer needs only the audio, so it runs on a thread while the engine transcribes; its
turns then label the transcript (:func:`~echoic.diarize.labels.label_transcript`), which needs
word timings to split a segment where the speaker changes. Rather than ask the whole
transcription for them (a third more decoding), callers pass ``words_for``
(:mod:`echoic.diarize.words`): the segments that two speakers share
(:func:`~echoic.diarize.labels.needs_words`) get word timings, aligned or decoded again, and are
put in place. A transcript with words already (the client asked) needs none.

One diarizer serves a whole process: :class:`DiarizerSlot` loads it on first use (a server
that never diarizes never reads the voice encoder's weights) and keeps it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from echoic.diarize.diarizer import load_diarizer
from echoic.diarize.labels import label_transcript, needs_words, with_clip_words
from echoic.diarize.types import SpeakerCount, SpeakerTurns
from echoic.diarize.words import SyncWordsFor, WordsFor
from echoic.settings import Settings
from echoic.types import SAMPLE_RATE, Audio, Transcript


class SpeakerFinder(Protocol):
    """What the interfaces need of a diarizer (:class:`~echoic.diarize.diarizer.Diarizer`,
    :class:`~echoic.diarize.scripted.ScriptedDiarizer`): thread-safe, blocking."""

    def turns(self, audio: Audio, count: SpeakerCount) -> SpeakerTurns: ...


class DiarizerSlot:
    """The process's diarizer, loaded by ``load`` on first :meth:`get` (thread-safe). A load
    that fails (the voice encoder is not installed) is tried again on the next request."""

    def __init__(self, load: Callable[[], SpeakerFinder]) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._diarizer: SpeakerFinder | None = None

    @classmethod
    def of(cls, diarizer: SpeakerFinder) -> DiarizerSlot:
        """A slot holding ``diarizer`` already (tests, embedding)."""
        slot = cls(lambda: diarizer)
        slot._diarizer = diarizer
        return slot

    @property
    def loaded(self) -> bool:
        return self._diarizer is not None

    def get(self) -> SpeakerFinder:
        """The diarizer (blocking: the first call loads it); raises
        :class:`~echoic.errors.ModelNotInstalledError` naming the install command."""
        with self._lock:
            if self._diarizer is None:
                self._diarizer = self._load()
            return self._diarizer


def diarizer_slot(settings: Settings, diarizer: SpeakerFinder | None = None) -> DiarizerSlot:
    """``diarizer``, or the voice-encoder diarizer of ``settings.models_dir`` when first used."""
    if diarizer is not None:
        return DiarizerSlot.of(diarizer)
    models_dir = settings.models_dir
    return DiarizerSlot(lambda: load_diarizer(models_dir))


def _clip(audio: Audio, start: float, end: float) -> Audio:
    return audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]


async def labelled(
    transcript: Transcript, audio: Audio, turns: SpeakerTurns, words_for: WordsFor | None
) -> Transcript:
    """``transcript`` labelled with ``turns``, the segments two speakers share decoded again
    with word timings first (when ``words_for`` is given)."""
    shared = [] if words_for is None else needs_words(transcript, turns)
    if words_for is not None and shared:
        segments = transcript.segments
        clips = [
            await words_for(
                _clip(audio, segments[i].start, segments[i].end), segments[i], transcript.language
            )
            for i in shared
        ]
        transcript = with_clip_words(transcript, dict(zip(shared, clips, strict=True)))
    return label_transcript(transcript, turns)


async def with_speakers(
    transcribing: Awaitable[Transcript],
    audio: Audio,
    diarizer: SpeakerFinder,
    count: SpeakerCount,
    words_for: WordsFor | None = None,
) -> Transcript:
    """Await ``transcribing`` while ``diarizer`` finds the turns of ``audio`` on a thread; the
    transcript labelled with them. A failing transcription fails at once (the diarizer's thread
    runs on, its answer dropped)."""
    turns = PendingTurns(diarizer, audio, count, words_for)
    try:
        transcript = await transcribing
    except BaseException:
        turns.cancel()
        raise
    return await turns.label(transcript)


class PendingTurns:
    """The diarizer at work on one audio, on a thread (started at once, on the running loop);
    :meth:`label` waits for it."""

    def __init__(
        self,
        diarizer: SpeakerFinder,
        audio: Audio,
        count: SpeakerCount,
        words_for: WordsFor | None = None,
    ) -> None:
        self._audio = audio
        self._words_for = words_for
        self._future = asyncio.ensure_future(asyncio.to_thread(diarizer.turns, audio, count))
        self._future.add_done_callback(_retrieve)

    async def label(self, transcript: Transcript) -> Transcript:
        """``transcript`` labelled with the turns, once they are found."""
        return await labelled(transcript, self._audio, await self._future, self._words_for)

    def cancel(self) -> None:
        """Drop the answer (the thread runs on: numpy cannot be interrupted)."""
        self._future.cancel()


def _retrieve(future: asyncio.Future[SpeakerTurns]) -> None:
    # A failure nobody waits for any more (the transcription failed first) is not an
    # "exception was never retrieved" warning.
    if not future.cancelled():
        future.exception()


def with_speakers_sync(
    transcribe: Callable[[], Transcript],
    audio: Audio,
    diarizer: SpeakerFinder,
    count: SpeakerCount,
    words_for: SyncWordsFor | None = None,
) -> Transcript:
    """:func:`with_speakers` for blocking callers (the CLI): ``transcribe()`` on this thread,
    the diarizer on another."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="echoic-diarize")
    try:
        finding = pool.submit(diarizer.turns, audio, count)
        transcript = transcribe()
        turns = finding.result()
        shared = [] if words_for is None else needs_words(transcript, turns)
        if words_for is not None and shared:
            segments = transcript.segments
            clips = {
                i: words_for(
                    _clip(audio, segments[i].start, segments[i].end),
                    segments[i],
                    transcript.language,
                )
                for i in shared
            }
            transcript = with_clip_words(transcript, clips)
        return label_transcript(transcript, turns)
    finally:
        pool.shutdown(wait=False)  # after a failed transcription, the turns are not waited for
