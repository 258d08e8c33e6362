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

The options are :class:`~echoic.bench.stream_options.StreamBenchOptions`, the sessions
:mod:`echoic.bench.session_files`, the models :mod:`echoic.bench.stream_models`; what is read off
the process beside the events (latency log lines, CPU time) :mod:`echoic.bench.stream_probes`.

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
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from echoic.audio import decode_audio
from echoic.batch import transcribe_file
from echoic.bench.machine import peak_rss_mb
from echoic.bench.session_files import SessionFile, session_files
from echoic.bench.stream_metrics import (
    Received,
    SendTimes,
    match_counts,
    place_finals,
    utterance_latencies,
)
from echoic.bench.stream_models import LoadedModels, load_models
from echoic.bench.stream_options import DecodeSettings, StreamBenchOptions
from echoic.bench.stream_probes import cpu_s, latency_records, scheduler_stats
from echoic.bench.stream_result import (
    BatchRun,
    SessionRun,
    StreamBenchResult,
    stats_delta,
)
from echoic.bench.text import count_errors
from echoic.engines.faster_whisper import FasterWhisperEngine
from echoic.engines.registry import EnginePool
from echoic.streaming.config import StreamConfig
from echoic.streaming.events import Event, EventType
from echoic.streaming.live import LiveStream, file_chunks
from echoic.streaming.runner import Embed, StreamAborted
from echoic.streaming.scheduler import SchedulerStats
from echoic.streaming.schedulers import Schedulers
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
