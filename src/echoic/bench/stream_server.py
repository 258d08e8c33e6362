"""``echoic bench stream-server``: streaming latency through a real ``echoic serve``, per endpoint.

One ``echoic serve`` is started on a free loopback port (auth off). Each session file is then
streamed, in ``chunk_ms`` chunks paced by the wall clock (EVAL.md, "Streaming latency"), through
each endpoint in turn (interleaved: session 1 via ``/v1/listen``, session 1 via ``/v1/realtime``,
session 2 …), over a WebSocket from this process:

- ``listen``: echoic's protocol; a ``start`` message, then 16 kHz 16-bit PCM binary frames, then
  ``stop``; its events are echoic's own.
- ``realtime``: OpenAI's Realtime transcription protocol; ``session.update`` (transcription,
  ``audio/pcm`` at 24 kHz, server VAD), then base64 ``input_audio_buffer.append`` events of the
  session resampled to 24 kHz. Its events are mapped to echoic's (:func:`realtime_received`): an
  item is an utterance, its joined deltas so far a ``partial``, ``completed`` its ``final`` (with
  the audio span of ``speech_started`` / ``speech_stopped``).

Every event is recorded with its arrival time; the latency, matching and WER arithmetic is
:mod:`echoic.bench.stream_metrics`, as for ``echoic bench stream``, so both endpoints are measured
with the same code. The client runs on the server's machine (a lower bound on what it could do).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from echoic.audio import decode_audio
from echoic.bench.fleet import fleet
from echoic.bench.machine import MachineInfo, machine_info, peak_rss_mb
from echoic.bench.session_files import SessionFile, session_files
from echoic.bench.stream_clients import RT_PREFIX, Arrival, stream_listen, stream_realtime
from echoic.bench.stream_metrics import (
    Received,
    SendTimes,
    match_counts,
    place_finals,
    utterance_latencies,
)
from echoic.bench.stream_result import SessionRun, StreamBenchResult
from echoic.bench.text import count_errors
from echoic.engines.faster_whisper import DeviceConfig, resolve_device
from echoic.streaming.config import StreamConfig
from echoic.streaming.events import Event, EventType
from echoic.streaming.scheduler import SchedulerStats
from echoic.types import SAMPLE_RATE, TranscribeOptions

VIAS = ("listen", "realtime")


@dataclass(frozen=True, kw_only=True)
class ServerStreamOptions:
    #: Session WAVs with ``.json`` sidecars, or directories of them.
    sessions: tuple[Path, ...]
    model: str = "tiny.en"
    via: tuple[str, ...] = VIAS
    chunk_ms: int = 20
    device: DeviceConfig = field(default_factory=DeviceConfig)
    ready_timeout_s: float = 180.0
    #: After the last chunk: how long the last finals may take.
    settle_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.chunk_ms <= 0:
            raise ValueError(f"chunk_ms must be positive, got {self.chunk_ms}")
        unknown = [v for v in self.via if v not in VIAS]
        if not self.via or unknown:
            raise ValueError(f"via must name some of {', '.join(VIAS)}, got {self.via}")


@dataclass(frozen=True, kw_only=True)
class ServerStreamResult:
    """One :class:`StreamBenchResult` per endpoint, measured on the same sessions in one run."""

    model: str
    chunk_ms: int
    created_at: str
    results: dict[str, StreamBenchResult]
    #: ``/v1/realtime``: the session as the server's ``session.updated`` said it runs.
    realtime_session: dict[str, Any] | None = None

    kind: ClassVar[str] = "stream-server"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self.model,
            "chunk_ms": self.chunk_ms,
            "created_at": self.created_at,
            "server": "echoic serve (started for the run, loopback)",
            "realtime_session": self.realtime_session,
            "endpoints": {f"/v1/{via}": r.to_dict() for via, r in self.results.items()},
        }


# -- events → echoic's events (pure) ------------------------------------------------------------


def listen_received(arrivals: Iterable[Arrival], t0: float) -> list[Received]:
    """``/v1/listen`` messages as :class:`Received` (seconds after ``t0``); unknown types are
    skipped."""
    out: list[Received] = []
    for at, message in arrivals:
        try:
            kind = EventType(str(message.get("type")))
        except ValueError:
            continue
        data = {k: v for k, v in message.items() if k not in ("type", "seq", "session_id", "t")}
        event = Event(
            type=kind,
            seq=int(message.get("seq") or 0),
            session_id=str(message.get("session_id") or ""),
            t=float(message.get("t") or 0.0),
            data=data,
        )
        out.append(Received(at_s=at - t0, event=event))
    return out


def realtime_received(arrivals: Iterable[Arrival], t0: float) -> list[Received]:
    """``/v1/realtime`` events as echoic's: utterance ids number the items (from 1) in the order
    they appear; ``speech_started`` / ``speech_stopped`` give an item's audio span; each
    non-empty delta is a ``partial`` carrying the item's deltas joined so far; ``completed`` is
    the ``final`` (its end: ``speech_stopped``, else start + ``usage.seconds``), with
    ``echoic.latency``; ``failed`` and ``error`` become ``error`` events."""
    ids: dict[str, int] = {}
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    joined: dict[str, str] = {}
    out: list[Received] = []

    def emit(at: float, kind: EventType, **data: Any) -> None:
        event = Event(type=kind, seq=len(out) + 1, session_id="realtime", t=at - t0, data=data)
        out.append(Received(at_s=at - t0, event=event))

    for at, message in arrivals:
        kind = str(message.get("type"))
        item = message.get("item_id")
        if not isinstance(item, str):
            if kind == "error":
                emit(at, EventType.ERROR, **dict(message.get("error") or {}))
            continue
        uid = ids.setdefault(item, len(ids) + 1)
        if kind == "input_audio_buffer.speech_started":
            starts[item] = float(message.get("audio_start_ms") or 0) / 1000
            emit(at, EventType.SPEECH_STARTED, utterance_id=uid, audio_start_s=starts[item])
        elif kind == "input_audio_buffer.speech_stopped":
            ends[item] = float(message.get("audio_end_ms") or 0) / 1000
            emit(at, EventType.SPEECH_ENDED, utterance_id=uid, audio_end_s=ends[item])
        elif kind == RT_PREFIX + "delta":
            joined[item] = joined.get(item, "") + str(message.get("delta") or "")
            if joined[item].strip():
                emit(at, EventType.PARTIAL, utterance_id=uid, text=joined[item].strip())
        elif kind == RT_PREFIX + "completed":
            start = starts.get(item, 0.0)
            usage = message.get("usage") or {}
            seconds = float(usage.get("seconds") or 0) if isinstance(usage, dict) else 0.0
            extra = message.get("echoic") or {}
            emit(
                at,
                EventType.FINAL,
                utterance_id=uid,
                text=str(message.get("transcript") or "").strip(),
                audio_start_s=start,
                audio_end_s=ends.get(item, start + seconds),
                latency=extra.get("latency") if isinstance(extra, dict) else None,
            )
        elif kind == RT_PREFIX + "failed":
            emit(at, EventType.ERROR, utterance_id=uid, **dict(message.get("error") or {}))
    return out


def session_run(
    session: SessionFile, audio_s: float, events: Sequence[Received], send: SendTimes
) -> SessionRun:
    """The run of one session through one endpoint, scored by the stream bench's code."""
    spans = place_finals(session.references, events)
    rows = utterance_latencies(session.references, events, send, spans)
    text = " ".join(s.text for s in spans if s.text)
    end = next((r for r in reversed(events) if r.type is EventType.END), None)
    usage = end.event.data.get("usage", {}) if end is not None else {}
    return SessionRun(
        session=session.name,
        repeat=0,
        audio_s=audio_s,
        realtime=True,
        wall_s=events[-1].at_s if events else 0.0,
        cpu_s=0.0,
        events=tuple(events),
        send=send,
        references=session.references,
        spans=tuple(spans),
        utterances=tuple(rows),
        matches=match_counts(rows, spans),
        records=(),
        scheduler=SchedulerStats(),
        frames_dropped=int(usage.get("frames_dropped", 0)) if isinstance(usage, dict) else 0,
        text=text,
        reference_text=session.text,
        counts=count_errors(session.text, text),
    )


# -- the run ----------------------------------------------------------------------------------


def run_server_stream_bench(
    options: ServerStreamOptions, *, on_run: Callable[[str, SessionRun], None] | None = None
) -> ServerStreamResult:
    sessions = session_files(options.sessions)
    device = resolve_device(options.device)
    machine = machine_info(
        model=options.model,
        device=device.device,
        compute_type=device.compute_type,
        cpu_threads=device.cpu_threads,
        beam_size=StreamConfig().final_options.beam_size,
        load_s=0.0,
    )
    with fleet(
        options.model,
        options.device,
        in_process=0,
        worker_processes=0,
        ready_timeout_s=options.ready_timeout_s,
    ) as (http, check):
        ws_url = str(http.base_url).rstrip("/").replace("http://", "ws://", 1)
        runs, realtime_session = asyncio.run(_run_all(ws_url, sessions, options, check, on_run))
    created = datetime.now(UTC).isoformat(timespec="seconds")
    return ServerStreamResult(
        model=options.model,
        chunk_ms=options.chunk_ms,
        created_at=created,
        results={via: _result(options, machine, created, runs[via]) for via in options.via},
        realtime_session=realtime_session,
    )


async def _run_all(
    ws_url: str,
    sessions: list[SessionFile],
    options: ServerStreamOptions,
    check: Callable[[], None],
    on_run: Callable[[str, SessionRun], None] | None,
) -> tuple[dict[str, list[SessionRun]], dict[str, Any] | None]:
    clients = {"listen": stream_listen, "realtime": stream_realtime}
    first = sessions[0]
    ref = first.references[0]
    clip = decode_audio(first.audio)[
        int(ref.speech_start_s * SAMPLE_RATE) : int((ref.speech_end_s + 1.5) * SAMPLE_RATE)
    ]
    realtime_session: dict[str, Any] | None = None
    for via in options.via:  # warm up every path of the server before t0
        arrivals, _ = await clients[via](ws_url, clip, options.chunk_ms, options.settle_timeout_s)
        updated = [m for _, m in arrivals if m.get("type") == "session.updated"]
        realtime_session = dict(updated[-1].get("session") or {}) if updated else realtime_session
    runs: dict[str, list[SessionRun]] = {via: [] for via in options.via}
    for session in sessions:
        audio = decode_audio(session.audio)
        for via in options.via:
            check()
            arrivals, sent = await clients[via](
                ws_url, audio, options.chunk_ms, options.settle_timeout_s
            )
            t0 = sent[0]
            received = (listen_received if via == "listen" else realtime_received)(arrivals, t0)
            send = SendTimes(
                chunk_s=options.chunk_ms / 1000, chunk_sent_s=tuple(s - t0 for s in sent)
            )
            run = session_run(session, len(audio) / SAMPLE_RATE, received, send)
            runs[via].append(run)
            if on_run is not None:
                on_run(via, run)
    return runs, realtime_session


def _result(
    options: ServerStreamOptions, machine: MachineInfo, created: str, runs: list[SessionRun]
) -> StreamBenchResult:
    return StreamBenchResult(
        model=options.model,
        realtime=True,
        chunk_ms=options.chunk_ms,
        stream=StreamConfig(),
        batch_options=TranscribeOptions(),
        machine=machine,
        created_at=created,
        runs=tuple(runs),
        batch=(),
        peak_rss_mb=peak_rss_mb(),
    )
