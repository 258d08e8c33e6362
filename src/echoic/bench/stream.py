"""``echoic bench stream``: live-stream latency and accuracy on sessions with timed references.

Each session file (``session_NN.wav`` with its ``.json`` sidecar) is fed through a real
:class:`~echoic.streaming.live.LiveStream` — Silero VAD, the default :class:`StreamConfig`, one
:class:`ModelScheduler` shared by all sessions — in ``chunk_ms`` chunks, paced by the wall clock
(``realtime``: a microphone; EVAL.md's latency definition) or as fast as the stream takes them
(a quick functional run whose latencies are not what a user would feel). The model is loaded and
warmed up before the first chunk is sent. Every event is recorded with its arrival time; the
arithmetic is in :mod:`echoic.bench.stream_metrics`.

Accuracy: the streaming WER (each session's finals joined, against the session's reference text)
beside the batch WER of the same files through the default batch path (``transcribe_file`` with
``TranscribeOptions()``, same model). Their difference is the streaming penalty (goal ≤ 0.5 points).

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
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from echoic.audio import decode_audio
from echoic.batch import transcribe_file
from echoic.bench.machine import machine_info, peak_rss_mb
from echoic.bench.stream_metrics import (
    Received,
    Reference,
    SendTimes,
    match_counts,
    place_finals,
    utterance_latencies,
)
from echoic.bench.stream_result import BatchRun, SessionRun, StreamBenchResult
from echoic.bench.text import count_errors
from echoic.engines.faster_whisper import DeviceConfig, FasterWhisperEngine, resolve_device
from echoic.engines.registry import EnginePool
from echoic.streaming.events import Event, EventType
from echoic.streaming.live import LiveStream, file_chunks
from echoic.streaming.runner import StreamAborted
from echoic.streaming.scheduler import ModelScheduler, SchedulerStats
from echoic.streaming.session import StreamConfig
from echoic.types import SAMPLE_RATE, Audio, TranscribeOptions
from echoic.vad.silero import SileroVad

__all__ = [
    "BatchRun",
    "SessionFile",
    "SessionRun",
    "StreamBenchOptions",
    "StreamBenchResult",
    "run_stream_bench",
    "session_files",
]

#: The per-utterance JSON records the stream runner logs (queue_ms, speculative_hit, …).
LATENCY_LOGGER = "echoic.latency"


@dataclass(frozen=True, kw_only=True)
class StreamBenchOptions:
    #: Session WAV files, or directories whose ``*.wav`` with a ``.json`` sidecar are taken.
    sessions: tuple[Path, ...]
    models_dir: Path
    model: str = "tiny.en"
    #: Pace chunks by the wall clock (EVAL.md); ``False``: as fast as the stream accepts them.
    realtime: bool = True
    chunk_ms: int = 20
    #: Feed every session this many times (latencies pool over all repeats).
    repeat: int = 1
    stream: StreamConfig = field(default_factory=StreamConfig)
    #: The batch path the streaming WER is compared with.
    batch: TranscribeOptions = field(default_factory=TranscribeOptions)
    compare_batch: bool = True
    device: DeviceConfig = field(default_factory=DeviceConfig)

    def __post_init__(self) -> None:
        if self.chunk_ms <= 0:
            raise ValueError(f"chunk_ms must be positive, got {self.chunk_ms}")
        if self.repeat < 1:
            raise ValueError(f"repeat must be at least 1, got {self.repeat}")


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


def run_stream_bench(
    options: StreamBenchOptions,
    *,
    pool: EnginePool | None = None,
    on_session: Callable[[SessionRun], None] | None = None,
) -> StreamBenchResult:
    """Stream every session (``repeat`` times), then transcribe each file in batch.

    ``pool`` reuses already loaded models (it should have been built with ``options.device``,
    which the report records); without one, a pool is made and closed here. ``on_session``
    reports progress after each session.
    """
    sessions = session_files(options.sessions)
    own_pool = pool is None
    engines = pool if pool is not None else EnginePool(options.models_dir, options.device)
    try:
        engine = engines.get(options.model)
        runs = asyncio.run(_stream_all(engine, sessions, options, on_session))
        batch = (
            tuple(_batch(engine, s, options.batch) for s in sessions)
            if options.compare_batch
            else ()
        )
        device, compute_type, threads = resolve_device(options.device)
        return StreamBenchResult(
            model=options.model,
            realtime=options.realtime,
            chunk_ms=options.chunk_ms,
            stream=options.stream,
            batch_options=options.batch,
            machine=machine_info(
                model=options.model,
                device=device,
                compute_type=compute_type,
                cpu_threads=threads,
                beam_size=options.stream.final_options.beam_size,
                load_s=engine.load_s,
            ),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            runs=tuple(runs),
            batch=batch,
            peak_rss_mb=peak_rss_mb(),
        )
    finally:
        if own_pool:
            asyncio.run(engines.aclose())


async def _stream_all(
    engine: FasterWhisperEngine,
    sessions: list[SessionFile],
    options: StreamBenchOptions,
    on_session: Callable[[SessionRun], None] | None,
) -> list[SessionRun]:
    audio = {s.name: decode_audio(s.audio) for s in sessions}
    detector = SileroVad()
    scheduler = ModelScheduler(engine)
    try:
        await _warm_up(engine, detector, sessions[0], audio[sessions[0].name], options.stream)
        runs: list[SessionRun] = []
        for repeat in range(options.repeat):
            for session in sessions:
                run = await _stream_one(
                    scheduler, detector, session, audio[session.name], options, repeat
                )
                runs.append(run)
                if on_session is not None:
                    on_session(run)
        return runs
    finally:
        await scheduler.aclose()


async def _warm_up(
    engine: FasterWhisperEngine,
    detector: SileroVad,
    session: SessionFile,
    audio: Audio,
    config: StreamConfig,
) -> None:
    """One draft and one final decode of real speech, and one VAD window, before ``t0``."""
    ref = session.references[0]
    speech = audio[int(ref.speech_start_s * SAMPLE_RATE) : int(ref.speech_end_s * SAMPLE_RATE)]
    await engine.transcribe(speech, config.draft_options)
    await engine.transcribe(speech, config.final_options)
    detector.fork().probability(speech[: detector.window_samples])


async def _stream_one(
    scheduler: ModelScheduler,
    detector: SileroVad,
    session: SessionFile,
    audio: Audio,
    options: StreamBenchOptions,
    repeat: int,
) -> SessionRun:
    arrivals: list[tuple[float, Event]] = []

    async def emit(event: Event) -> None:
        arrivals.append((time.monotonic(), event))

    stats_before = replace(scheduler.stats)
    sent: list[float] = []
    with _latency_records() as records:
        cpu_before = _cpu_s()
        stream = LiveStream(
            scheduler, emit, detector=detector.fork(), config=options.stream, model=options.model
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
        cpu_s = _cpu_s() - cpu_before
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
        cpu_s=cpu_s,
        events=events,
        send=send,
        references=session.references,
        spans=tuple(spans),
        utterances=tuple(rows),
        matches=match_counts(rows, spans),
        records=tuple(mine),
        scheduler=_stats_delta(scheduler.stats, stats_before),
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
def _latency_records() -> Iterator[list[dict[str, Any]]]:
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


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _stats_delta(after: SchedulerStats, before: SchedulerStats) -> SchedulerStats:
    return SchedulerStats(
        **{k: getattr(after, k) - getattr(before, k) for k in asdict(after)},
    )
