"""The local engine: Whisper through faster-whisper / CTranslate2 (CPU int8 by default, CUDA too).

One :class:`FasterWhisperEngine` owns one loaded model and one inference thread per
CTranslate2 worker (one per core on CPU); every caller shares it (see
:class:`echoic.engines.registry.EnginePool`). Short audio goes through the sequential decoder;
long audio through ``BatchedInferencePipeline`` over Silero VAD chunks, its chunks spread over
the workers (:mod:`echoic.engines.batched`).

Live decodes run on the model's inference threads. A decode started under
:data:`~echoic.engines.gate.chunk_slots` (REST and jobs in a server) runs on a background thread
instead, and each of its CTranslate2 calls holds one of the device's compute slots, at a lower
priority than live work (:mod:`echoic.engines.gate`).

The device settings are in :mod:`echoic.engines.device`, the translation between echoic's types
and faster-whisper's in :mod:`echoic.engines.conversion`; their public names are importable from
here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from echoic.engines.align import align_tokens
from echoic.engines.base import Capabilities, Health, LanguageGuess, ProgressCallback
from echoic.engines.conversion import (
    SegmentCallback,
    collect_segments,
    decode_kwargs,
    window_options,
    window_transcript,
)
from echoic.engines.device import DeviceConfig, ResolvedDevice, resolve_device
from echoic.engines.gate import ChunkGate, chunk_slots
from echoic.engines.models import ResolvedModel
from echoic.engines.window import (
    WINDOW_MAX_S,
    decode_window,
    decode_windows,
    length_groups,
)
from echoic.errors import EngineError, InvalidRequestError
from echoic.types import (
    SAMPLE_RATE,
    Audio,
    Task,
    TranscribeOptions,
    Transcript,
    TranscriptMetadata,
    Word,
    build_transcript,
)

__all__ = [
    "MAX_BATCH",
    "DeviceConfig",
    "FasterWhisperEngine",
    "ResolvedDevice",
    "SegmentCallback",
    "decode_kwargs",
    "resolve_device",
]

log = logging.getLogger(__name__)

#: Most windows one batched call decodes together (:meth:`FasterWhisperEngine.transcribe_batch`).
MAX_BATCH = 16


class FasterWhisperEngine:
    def __init__(self, model: ResolvedModel, config: DeviceConfig | None = None) -> None:
        from faster_whisper import WhisperModel

        self._resolved = model
        resolved = resolve_device(config or DeviceConfig())
        self._device, self._compute_type = resolved.device, resolved.compute_type
        self._threads, self._workers = resolved.cpu_threads, resolved.workers
        started = time.perf_counter()
        try:
            self._model = WhisperModel(
                str(model.path),
                device=self._device,
                compute_type=self._compute_type,
                cpu_threads=self._threads,
                num_workers=self._workers,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise EngineError(
                f"could not load model {model.name!r} from {model.path}: {exc}"
            ) from exc
        self.load_s = time.perf_counter() - started
        # One Python thread per CTranslate2 worker: that many calls run side by side on one
        # copy of the weights.
        self._executor = ThreadPoolExecutor(
            max_workers=self._workers, thread_name_prefix=f"echoic-{model.name}"
        )
        # The chunks of a long file's batches, spread over the workers (engines/batched.py).
        self._chunk_executor = ThreadPoolExecutor(
            max_workers=self._workers, thread_name_prefix=f"echoic-{model.name}-chunks"
        )
        # REST and job decodes that take turns for compute slots: a thread waiting for its
        # turn must not keep a live decode from the inference threads above. Twice the
        # workers: the next files' features and VAD are ready when a slot frees.
        self._background_executor = ThreadPoolExecutor(
            max_workers=2 * self._workers, thread_name_prefix=f"echoic-{model.name}-background"
        )
        self._closed = False
        log.info(
            "model loaded",
            extra={
                "model": model.name,
                "device": self._device,
                "compute_type": self._compute_type,
                "cpu_threads": self._threads,
                "workers": self._workers,
                "load_s": round(self.load_s, 3),
            },
        )

    @property
    def name(self) -> str:
        return f"faster-whisper:{self._resolved.name}"

    @property
    def model_name(self) -> str:
        return self._resolved.name

    @property
    def whisper_model(self) -> Any:
        """The underlying ``faster_whisper.WhisperModel`` (for benchmarks and advanced callers)."""
        return self._model

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            streaming=False,
            word_timestamps=True,
            translation=not self._resolved.english_only,
            languages=("en",) if self._resolved.english_only else None,
            device=self._device,
            parallel_calls=self._workers,
        )

    async def transcribe(
        self,
        audio: Audio,
        options: TranscribeOptions,
        *,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        queued = time.perf_counter()
        call = partial(self.transcribe_sync, audio, options, progress=progress, queued_at=queued)
        return await self._off_loop(call)

    async def transcribe_progressive(
        self, audio: Audio, options: TranscribeOptions, on_segment: SegmentCallback
    ) -> Transcript:
        """:meth:`transcribe`, calling ``on_segment`` (from the inference thread) with each
        segment as the decoder produces it: what a streamed REST response sends as it goes."""
        queued = time.perf_counter()
        call = partial(
            self.transcribe_sync, audio, options, queued_at=queued, on_segment=on_segment
        )
        return await self._off_loop(call)

    async def align_words(
        self, audio: Audio, tokens: Sequence[int], language: str | None
    ) -> tuple[Word, ...]:
        """Word timings of a segment's ``tokens`` in ``audio`` (its clip, at most 30 s), by
        alignment rather than a second decode (:mod:`echoic.engines.align`); one chunk call."""

        def call(gate: ChunkGate | None = None) -> tuple[Word, ...]:
            with contextlib.nullcontext() if gate is None else gate.chunk():
                try:
                    return align_tokens(self._model, audio, tokens, language)
                except (RuntimeError, ValueError) as exc:
                    raise EngineError(f"word alignment failed in {self.name}: {exc}") from exc

        loop = asyncio.get_running_loop()
        slots = chunk_slots.get()
        if slots is None:
            return await loop.run_in_executor(self._executor, call)
        gate = ChunkGate(slots, loop)
        try:
            return await loop.run_in_executor(self._background_executor, partial(call, gate))
        finally:
            gate.close()

    async def _off_loop(self, call: Callable[..., Transcript]) -> Transcript:
        """Run ``call`` on an inference thread; under :data:`chunk_slots`, on a background
        thread with a :class:`ChunkGate` that stops it at its next chunk call once nobody
        awaits it."""
        loop = asyncio.get_running_loop()
        slots = chunk_slots.get()
        if slots is None:
            return await loop.run_in_executor(self._executor, call)
        gate = ChunkGate(slots, loop)
        try:
            transcript = await loop.run_in_executor(
                self._background_executor, partial(call, gate=gate)
            )
        finally:
            gate.close()
        stats = gate.stats  # one line per file: how long it held the device, and waited
        log.info(
            "background decode",
            extra={
                "model": self._resolved.name,
                "audio_s": round(transcript.duration, 3),
                "calls": stats.calls,
                "held_s": round(stats.held_s, 3),
                "longest_call_s": round(stats.longest_s, 3),
                "waited_s": round(stats.waited_s, 3),
            },
        )
        return transcript

    def transcribe_sync(
        self,
        audio: Audio,
        options: TranscribeOptions,
        *,
        progress: ProgressCallback | None = None,
        queued_at: float | None = None,
        on_segment: SegmentCallback | None = None,
        gate: ChunkGate | None = None,
    ) -> Transcript:
        """Blocking transcription on the caller's thread (the CLI and benchmarks use it).

        ``on_segment`` is called with each segment as soon as the decoder produces it (texts
        not yet cleaned; the returned transcript has the clean ones). With ``gate``, each
        chunk call holds a compute slot (one window: one call).
        """
        self._check_options(options)
        started = time.perf_counter()
        duration = len(audio) / SAMPLE_RATE
        if options.encoder_pad_s is not None and duration <= WINDOW_MAX_S:
            with contextlib.nullcontext() if gate is None else gate.chunk():
                return self._decode_window(
                    audio, options, started, queued_at or started, on_segment=on_segment
                )
        model = self._model if gate is None else _gated(self._model, gate)
        batched = options.batched
        if batched is None:
            batched = duration >= options.batched_threshold_s
        kwargs = decode_kwargs(options)
        try:
            if batched:
                segments_iter, info = self._batched_pipeline(model).transcribe(
                    audio, batch_size=options.batch_size, **kwargs
                )
            else:
                segments_iter, info = model.transcribe(audio, **kwargs)
            segments = collect_segments(segments_iter, duration, progress, on_segment)
        except (RuntimeError, ValueError) as exc:
            raise EngineError(f"transcription failed in {self.name}: {exc}") from exc
        metadata = self._metadata(started, queued_at or started, batched=batched)
        return build_transcript(
            segments=segments,
            duration=duration,
            language=info.language,
            language_probability=round(float(info.language_probability), 4),
            task=options.task,
            metadata=metadata,
        )

    def batch_limit(self, options: TranscribeOptions) -> int:
        """Right-sized windows batch (live drafts and finals); anything else runs one by one."""
        if options.encoder_pad_s is None:
            return 1
        return MAX_BATCH

    def batch_groups(self, samples: Sequence[int], options: TranscribeOptions) -> list[list[int]]:
        """Windows of similar length (:func:`~echoic.engines.window.length_groups`); a window
        over 30 s, or anything :meth:`batch_limit` does not batch, alone."""
        if self.batch_limit(options) < 2:
            return [[i] for i in range(len(samples))]
        windows = [i for i, n in enumerate(samples) if n / SAMPLE_RATE <= WINDOW_MAX_S]
        groups = [
            [windows[g] for g in group]
            for group in length_groups([samples[i] for i in windows], options.encoder_pad_s)
        ]
        return groups + [[i] for i in range(len(samples)) if i not in set(windows)]

    async def transcribe_batch(
        self, audios: Sequence[Audio], options: TranscribeOptions
    ) -> list[Transcript]:
        """Transcribe ``audios`` with one batched encoder and decoder call per group of similar
        lengths (:func:`~echoic.engines.window.length_groups`), all on one worker; their texts
        match :meth:`transcribe`'s of each audio alone, or nearly (a window shorter than the
        batch's longest sees more padding)."""
        queued = time.perf_counter()
        loop = asyncio.get_running_loop()
        call = partial(self.transcribe_batch_sync, audios, options, queued_at=queued)
        return await loop.run_in_executor(self._executor, call)

    def transcribe_batch_sync(
        self, audios: Sequence[Audio], options: TranscribeOptions, *, queued_at: float | None = None
    ) -> list[Transcript]:
        """Blocking :meth:`transcribe_batch` on the caller's thread."""
        self._check_options(options)
        started = time.perf_counter()
        if self.batch_limit(options) < 2:
            return [self.transcribe_sync(a, options, queued_at=queued_at) for a in audios]
        results: dict[int, Transcript] = {}
        window = window_options(options)
        for group in self.batch_groups([len(a) for a in audios], options):
            if len(group) == 1 and len(audios[group[0]]) / SAMPLE_RATE > WINDOW_MAX_S:
                results[group[0]] = self.transcribe_sync(audios[group[0]], options)
                continue
            try:
                decoded = decode_windows(self._model, [audios[i] for i in group], window)
            except (RuntimeError, ValueError) as exc:
                raise EngineError(f"transcription failed in {self.name}: {exc}") from exc
            metadata = self._metadata(started, queued_at or started, batched=len(group) > 1)
            for i, result in zip(group, decoded, strict=True):
                results[i] = window_transcript(result, options, metadata)
        return [results[i] for i in range(len(audios))]

    def _decode_window(
        self,
        audio: Audio,
        options: TranscribeOptions,
        started: float,
        queued_at: float,
        *,
        on_segment: SegmentCallback | None = None,
    ) -> Transcript:
        try:
            result = decode_window(self._model, audio, window_options(options))
        except (RuntimeError, ValueError) as exc:
            raise EngineError(f"transcription failed in {self.name}: {exc}") from exc
        if on_segment is not None and result.segment is not None:
            on_segment(result.segment)
        metadata = self._metadata(started, queued_at, batched=False)
        return window_transcript(result, options, metadata)

    def _metadata(self, started: float, queued_at: float, *, batched: bool) -> TranscriptMetadata:
        return TranscriptMetadata(
            provider="local",
            engine="faster-whisper",
            model=self._resolved.name,
            device=self._device,
            compute_type=self._compute_type,
            queue_latency_ms=round((started - queued_at) * 1000),
            processing_ms=round((time.perf_counter() - started) * 1000),
            batched=batched,
        )

    def _check_options(self, options: TranscribeOptions) -> None:
        if not self._resolved.english_only:
            return
        if options.task is Task.TRANSLATE:
            raise InvalidRequestError(
                f"model {self._resolved.name!r} is English-only and cannot translate; "
                "use a multilingual model such as 'base'"
            )
        if options.language not in (None, "en"):
            raise InvalidRequestError(
                f"model {self._resolved.name!r} is English-only; language {options.language!r} "
                "needs a multilingual model such as 'base'"
            )

    def _batched_pipeline(self, model: Any) -> Any:
        from echoic.engines.batched import ChunkParallelPipeline

        return ChunkParallelPipeline(model, self._chunk_executor, ways=self._workers)

    async def detect_language(self, audio: Audio) -> LanguageGuess:
        if self._resolved.english_only:
            return LanguageGuess(language="en", probability=1.0)
        loop = asyncio.get_running_loop()
        language, probability, _ = await loop.run_in_executor(
            self._executor, self._model.detect_language, audio
        )
        return LanguageGuess(language=language, probability=float(probability))

    async def healthcheck(self) -> Health:
        return Health(ok=not self._closed, detail=f"{self.name} on {self._device}")

    async def aclose(self) -> None:
        self._closed = True
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._background_executor.shutdown(wait=True, cancel_futures=True)
        self._chunk_executor.shutdown(wait=True, cancel_futures=True)


#: The CTranslate2 calls of a decode: each runs one 30 s window (or a batch's chunk) at most.
_CHUNK_CALLS = ("encode", "generate", "detect_language", "align")


def _gated(model: Any, gate: ChunkGate) -> Any:
    """A shallow copy of ``model`` (a ``faster_whisper.WhisperModel``, weights shared) whose
    CTranslate2 calls each hold a slot of ``gate``."""
    gated = copy.copy(model)
    gated.model = gate.wrap(model.model, _CHUNK_CALLS)
    return gated
