"""``echoic bench stream``: live-stream latency and accuracy on sessions with timed references.

Each session file (``session_NN.wav`` with its ``.json`` sidecar) is fed through a real
:class:`~echoic.streaming.live.LiveStream` — Silero VAD, the default :class:`StreamConfig`, one
:class:`Schedulers` set shared by all sessions — in ``chunk_ms`` chunks, paced by the wall clock
(``realtime``: a microphone; EVAL.md's latency definition) or as fast as the stream takes them
(a quick functional run whose latencies are not what a user would feel). The models are loaded
and warmed up before the first chunk is sent. Every event is recorded with its arrival time; the
arithmetic is in :mod:`echoic.bench.stream_metrics`.

Single-model mode (``confirm_model=None``): one model drafts and finalizes. Dual-model
(speculative) mode: ``model`` drafts on its own scheduler and ``confirm_model`` confirms (every
``confirm_interval_ms``) and finalizes on another, each model loaded with one CTranslate2 thread
(DESIGN.md §10: two models on two cores). A confirming model of the same name as the drafting one
is a second loaded copy, so drafts and confirmations still run side by side. The stream decodes
in :func:`~echoic.streaming.live.stream_language` (English when either model is English-only).

Accuracy: the streaming WER (each session's finals joined, against the session's reference text)
beside the batch WER of the same files through the default batch path (``transcribe_file`` with
``TranscribeOptions()`` — beam 5, in the stream's language — with the confirming model). Their
difference is the streaming penalty (goal ≤ 0.5 points).

    options = StreamBenchOptions(sessions=(Path("eval/dev/sessions"),), models_dir=models_dir)
    result = run_stream_bench(options)
    print_stream_table(result)
    write_stream_report(result, Path("stream.json"), Path("stream.png"))
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from echoic.audio import decode_audio
from echoic.batch import transcribe_file
from echoic.bench.machine import MachineInfo, machine_info, peak_rss_mb
from echoic.bench.stream_metrics import (
    Received,
    Reference,
    SendTimes,
    match_counts,
    place_finals,
    utterance_latencies,
)
from echoic.bench.stream_result import (
    BatchRun,
    SessionRun,
    StreamBenchResult,
    stats_delta,
    stats_sum,
)
from echoic.bench.text import count_errors
from echoic.engines.faster_whisper import DeviceConfig, FasterWhisperEngine, resolve_device
from echoic.engines.registry import EnginePool
from echoic.streaming.config import StreamConfig
from echoic.streaming.events import Event, EventType
from echoic.streaming.live import LiveStream, file_chunks, stream_language
from echoic.streaming.runner import Embed, StreamAborted
from echoic.streaming.scheduler import DEFAULT_MAX_BATCH, Schedulers, SchedulerStats
from echoic.streaming.speakers import installed_voice_encoder
from echoic.types import SAMPLE_RATE, Audio, TranscribeOptions
from echoic.vad.silero import SileroVad

__all__ = [
    "BatchRun",
    "DecodeSettings",
    "LoadedModels",
    "SessionFile",
    "SessionRun",
    "StreamBenchOptions",
    "StreamBenchResult",
    "load_models",
    "run_stream_bench",
    "session_files",
]

#: The per-utterance JSON records the stream runner logs (queue_ms, speculative_hit, …).
LATENCY_LOGGER = "echoic.latency"


@dataclass(frozen=True, kw_only=True)
class DecodeSettings:
    """Beam size and encoder input of one kind of live decode (drafts, or confirmations and
    finals). ``encoder_pad_s``: the encoder sees the window plus this much padding; ``None``:
    a full 30 s window, like stock faster-whisper."""

    beam_size: int
    encoder_pad_s: float | None

    def __post_init__(self) -> None:
        if self.beam_size < 1:
            raise ValueError(f"beam_size must be at least 1, got {self.beam_size}")
        if self.encoder_pad_s is not None and self.encoder_pad_s < 0:
            raise ValueError(f"encoder_pad_s must not be negative, got {self.encoder_pad_s}")

    @classmethod
    def of(cls, options: TranscribeOptions) -> DecodeSettings:
        return cls(beam_size=options.beam_size, encoder_pad_s=options.encoder_pad_s)

    def apply(self, options: TranscribeOptions) -> TranscribeOptions:
        return replace(options, beam_size=self.beam_size, encoder_pad_s=self.encoder_pad_s)

    @property
    def label(self) -> str:
        search = "greedy" if self.beam_size == 1 else f"beam {self.beam_size}"
        window = (
            "30 s window" if self.encoder_pad_s is None else f"window + {self.encoder_pad_s:g} s"
        )
        return f"{search}, {window}"


@dataclass(frozen=True, kw_only=True)
class StreamBenchOptions:
    #: Session WAV files, or directories whose ``*.wav`` with a ``.json`` sidecar are taken.
    sessions: tuple[Path, ...]
    models_dir: Path
    #: The drafting model (in single-model mode, the only one).
    model: str = "tiny.en"
    #: Dual-model (speculative) mode: the model that confirms and finalizes; ``None``: single.
    confirm_model: str | None = None
    #: Dual-model mode: confirm the open utterance this often (``None``: only at its end).
    confirm_interval_ms: int | None = 1000
    #: Pace chunks by the wall clock (EVAL.md); ``False``: as fast as the stream accepts them.
    realtime: bool = True
    chunk_ms: int = 20
    #: Feed every session this many times (latencies pool over all repeats).
    repeat: int = 1
    stream: StreamConfig = field(default_factory=StreamConfig)
    #: Overrides of ``stream.draft_options`` / ``stream.final_options`` (``None``: keep them).
    draft: DecodeSettings | None = None
    final: DecodeSettings | None = None
    #: The spoken language; ``None``: :func:`stream_language` decides (English-only models: en).
    language: str | None = None
    #: The batch path the streaming WER is compared with (its language: the stream's if unset).
    batch: TranscribeOptions = field(default_factory=TranscribeOptions)
    compare_batch: bool = True
    #: ``cpu_threads=0`` (one per core) becomes 1 in dual-model mode (DESIGN.md §10).
    device: DeviceConfig = field(default_factory=DeviceConfig)
    #: Drafts of several streams one batched call runs at most (1: one at a time).
    max_batch: int = DEFAULT_MAX_BATCH

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {self.max_batch}")
        if self.chunk_ms <= 0:
            raise ValueError(f"chunk_ms must be positive, got {self.chunk_ms}")
        if self.repeat < 1:
            raise ValueError(f"repeat must be at least 1, got {self.repeat}")
        if self.confirm_interval_ms is not None and self.confirm_interval_ms <= 0:
            raise ValueError(
                f"confirm_interval_ms must be positive, got {self.confirm_interval_ms}"
            )

    @property
    def dual(self) -> bool:
        return self.confirm_model is not None

    @property
    def confirming_model(self) -> str:
        """The model whose decodes become the finals."""
        return self.confirm_model or self.model

    @property
    def label(self) -> str:
        return f"{self.model} → {self.confirm_model}" if self.dual else self.model

    def stream_config(self, language: str | None) -> StreamConfig:
        """``stream`` with the decode overrides, confirmations (dual-model mode) and language."""
        config = self.stream
        if self.draft is not None:
            config = replace(config, draft_options=self.draft.apply(config.draft_options))
        if self.final is not None:
            config = replace(config, final_options=self.final.apply(config.final_options))
        if self.dual:
            config = replace(config, confirm_interval_ms=self.confirm_interval_ms)
        return config.with_language(language)

    def batch_options(self, language: str | None) -> TranscribeOptions:
        if self.batch.language is not None:
            return self.batch
        return replace(self.batch, language=language)


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


@dataclass(frozen=True, kw_only=True)
class LoadedModels:
    """The engines of one benchmark configuration and the language its streams decode in."""

    draft: FasterWhisperEngine
    confirm: FasterWhisperEngine
    language: str | None
    config: StreamConfig
    max_batch: int = DEFAULT_MAX_BATCH

    def machine(self, options: StreamBenchOptions) -> MachineInfo:
        """The machine and engine settings a report of ``options`` was measured with."""
        device = resolve_device(options.device)
        load_s = self.draft.load_s + (self.confirm.load_s if self.confirm is not self.draft else 0)
        return machine_info(
            model=options.label,
            device=device.device,
            compute_type=device.compute_type,
            cpu_threads=device.cpu_threads,
            beam_size=self.config.final_options.beam_size,
            load_s=load_s,
        )

    def schedulers(self) -> Schedulers:
        """A fresh scheduler set, shared by every stream fed through it (as in the server)."""
        return Schedulers.of(self.draft, self.confirm, max_batch=self.max_batch)


@contextmanager
def load_models(
    options: StreamBenchOptions, pool: EnginePool | None = None
) -> Iterator[LoadedModels]:
    """Load (or take from ``pool``) the models of ``options``; close what was loaded here.

    A model confirming itself is loaded once and shares one scheduler, as in the server (its
    confirmations and finals go before its drafts).
    """
    own: list[EnginePool] = []

    def new_pool() -> EnginePool:
        own.append(EnginePool(options.models_dir, options.device))
        return own[-1]

    try:
        engines = pool if pool is not None else new_pool()
        draft = engines.get(options.model)
        confirm = draft
        if options.confirm_model is not None:
            confirm = engines.get(options.confirm_model)
        language = stream_language(options.language, [draft, confirm])
        yield LoadedModels(
            draft=draft,
            confirm=confirm,
            language=language,
            config=options.stream_config(language),
            max_batch=options.max_batch,
        )
    finally:
        for engines in own:
            asyncio.run(engines.aclose())


def run_stream_bench(
    options: StreamBenchOptions,
    *,
    pool: EnginePool | None = None,
    on_session: Callable[[SessionRun], None] | None = None,
) -> StreamBenchResult:
    """Stream every session (``repeat`` times), then transcribe each file in batch.

    ``pool`` reuses already loaded models (it should have been built with
    ``options.device``, which the report records); without one, the models are loaded
    here and closed when done. ``on_session`` reports progress after each session.
    """
    sessions = session_files(options.sessions)
    with load_models(options, pool) as models:
        runs = asyncio.run(_stream_all(models, sessions, options, on_session))
        batch_options = options.batch_options(models.language)
        batch = (
            tuple(_batch(models.confirm, s, batch_options) for s in sessions)
            if options.compare_batch
            else ()
        )
        return StreamBenchResult(
            model=options.model,
            confirm_model=options.confirm_model,
            language=models.language,
            realtime=options.realtime,
            chunk_ms=options.chunk_ms,
            stream=models.config,
            batch_options=batch_options,
            machine=models.machine(options),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            runs=tuple(runs),
            batch=batch,
            peak_rss_mb=peak_rss_mb(),
        )


async def _stream_all(
    models: LoadedModels,
    sessions: list[SessionFile],
    options: StreamBenchOptions,
    on_session: Callable[[SessionRun], None] | None,
) -> list[SessionRun]:
    audio = {s.name: decode_audio(s.audio) for s in sessions}
    detector = SileroVad()
    schedulers = models.schedulers()
    speakers = None
    if models.config.diarization:  # loaded (and warmed) before t0, as a server's first stream
        speakers = installed_voice_encoder(options.models_dir)
        await speakers.embed(audio[sessions[0].name][: 3 * SAMPLE_RATE])
    try:
        await warm_up(models, detector, sessions[0], audio[sessions[0].name])
        runs: list[SessionRun] = []
        with latency_records() as records:
            for repeat in range(options.repeat):
                for session in sessions:
                    before = scheduler_stats(schedulers)
                    cpu_before = cpu_s()
                    run = await stream_session(
                        schedulers,
                        detector,
                        session,
                        audio[session.name],
                        options,
                        models.config,
                        repeat=repeat,
                        records=records,
                        embed=speakers.embed if speakers is not None else None,
                    )
                    run = replace(
                        run,
                        cpu_s=cpu_s() - cpu_before,
                        scheduler=stats_delta(scheduler_stats(schedulers), before),
                    )
                    runs.append(run)
                    if on_session is not None:
                        on_session(run)
        return runs
    finally:
        await schedulers.aclose()
        if speakers is not None:
            speakers.close()


async def warm_up(
    models: LoadedModels, detector: SileroVad, session: SessionFile, audio: Audio
) -> None:
    """One draft and one final decode of real speech per model, and one VAD window, before
    ``t0``."""
    ref = session.references[0]
    speech = audio[int(ref.speech_start_s * SAMPLE_RATE) : int(ref.speech_end_s * SAMPLE_RATE)]
    await models.draft.transcribe(speech, models.config.draft_options)
    await models.draft.transcribe(speech, models.config.final_options)
    if models.confirm is not models.draft:
        await models.confirm.transcribe(speech, models.config.final_options)
    detector.fork().probability(speech[: detector.window_samples])


async def stream_session(
    schedulers: Schedulers,
    detector: SileroVad,
    session: SessionFile,
    audio: Audio,
    options: StreamBenchOptions,
    config: StreamConfig,
    *,
    repeat: int,
    records: list[dict[str, Any]],
    embed: Embed | None = None,
) -> SessionRun:
    """Feed one session through a new live stream on ``schedulers``; several may run at once.

    ``records`` collects the runner's latency lines (:func:`latency_records`); this stream's are
    picked out by session id. The run's ``cpu_s`` and ``scheduler`` are left empty: the caller
    knows what ran beside it.
    """
    arrivals: list[tuple[float, Event]] = []

    async def emit(event: Event) -> None:
        arrivals.append((time.monotonic(), event))

    sent: list[float] = []
    stream = LiveStream(
        schedulers,
        emit,
        detector=detector.fork(),
        config=config,
        model=options.confirming_model,
        embed=embed,
    )
    aborted: str | None = None
    try:
        async with stream:
            chunks = file_chunks(audio, chunk_ms=options.chunk_ms, realtime=options.realtime)
            async for chunk in chunks:
                if options.realtime:
                    sent.append(time.monotonic())
                    stream.send(chunk)
                else:
                    await stream.send_paced(chunk)
                    sent.append(time.monotonic())
    except StreamAborted as exc:  # overloaded: the error event is recorded; so is this
        aborted = str(exc)
    t0 = sent[0]
    events = tuple(Received(at_s=at - t0, event=e) for at, e in arrivals)
    send = SendTimes(
        chunk_s=options.chunk_ms / 1000,
        chunk_sent_s=None if options.realtime else tuple(s - t0 for s in sent),
    )
    spans = place_finals(session.references, events)
    rows = utterance_latencies(session.references, events, send, spans)
    finals = [s for s in spans if s.text]
    text = " ".join(s.text for s in finals)
    end = next((r for r in reversed(events) if r.type is EventType.END), None)
    usage = end.event.data.get("usage", {}) if end is not None else {}
    mine = [r for r in records if r.get("session_id") == stream.session_id]
    return SessionRun(
        session=session.name,
        repeat=repeat,
        audio_s=len(audio) / SAMPLE_RATE,
        realtime=options.realtime,
        wall_s=(end.at_s if end is not None else events[-1].at_s) if events else 0.0,
        cpu_s=0.0,
        events=events,
        send=send,
        references=session.references,
        spans=tuple(spans),
        utterances=tuple(rows),
        matches=match_counts(rows, spans),
        records=tuple(mine),
        scheduler=SchedulerStats(),
        frames_dropped=int(usage.get("frames_dropped", stream.session.frames_dropped)),
        text=text,
        reference_text=session.text,
        counts=count_errors(session.text, text),
        aborted=aborted,
    )


def _batch(
    engine: FasterWhisperEngine, session: SessionFile, options: TranscribeOptions
) -> BatchRun:
    started = time.perf_counter()
    transcript = transcribe_file(engine, session.audio, options)
    seconds = time.perf_counter() - started
    return BatchRun(
        session=session.name,
        text=transcript.text,
        seconds=seconds,
        counts=count_errors(session.text, transcript.text),
    )


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = json.loads(record.getMessage())
        except ValueError:
            return
        if isinstance(data, dict):
            self.records.append(data)


@contextmanager
def latency_records() -> Iterator[list[dict[str, Any]]]:
    """Collect the runner's ``echoic.latency`` lines; switch them on (only for us) if off."""
    logger = logging.getLogger(LATENCY_LOGGER)
    handler = _Collect()
    level, propagate = logger.level, logger.propagate
    if not logger.isEnabledFor(logging.INFO):
        # Enabled here only to be collected: do not let them reach the application's handlers.
        logger.setLevel(logging.INFO)
        logger.propagate = False
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def cpu_s() -> float:
    """CPU seconds this process has used (every thread: the event loop and the models')."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def scheduler_stats(schedulers: Schedulers) -> SchedulerStats:
    """The counters of both schedulers of a dual-model set, summed (one in single-model mode)."""
    stats = replace(schedulers.draft.stats)
    if schedulers.dual:
        stats = stats_sum(stats, schedulers.confirm.stats)
    return stats
