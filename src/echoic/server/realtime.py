"""``/v1/realtime``: OpenAI's Realtime API in transcription mode, on echoic's live streams.

A client built for OpenAI (the official SDKs' ``client.realtime.connect(...)``, a browser with
the ``openai-insecure-api-key.*`` subprotocol) talks to echoic unchanged: ``session.update``,
``input_audio_buffer.append`` / ``commit`` / ``clear`` in; ``session.created`` / ``updated``,
``input_audio_buffer.speech_started`` / ``speech_stopped`` / ``committed`` / ``cleared``,
``conversation.item.created``, ``conversation.item.input_audio_transcription.delta`` /
``completed`` / ``failed`` and ``error`` out. Underneath it is the same engine as
``/v1/listen`` (:mod:`echoic.server.ws`): one :class:`LiveStream` per session configuration,
the same VAD, schedulers, modes, routing, auth, stream slots and metrics. The protocol's pure
half is :mod:`echoic.server.realtime_events` (client events, session configuration) and
:mod:`echoic.server.realtime_items` (echoic events → OpenAI events).

A bad event gets an ``error`` event and the connection stays open; bad credentials close with
4401 after an ``error``, too many streams with 4429, overload 1013, shutdown 1001.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import MutableMapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from echoic.audio.pcm import pcm_to_float32
from echoic.errors import EchoicError, RateLimitedError, UnauthorizedError
from echoic.server.frames import plan_stream, read_frames
from echoic.server.realtime_events import (
    RealtimeError,
    SessionConfig,
    apply_update,
    decode_append,
    new_id,
    parse_event,
)
from echoic.server.realtime_items import Translator
from echoic.server.realtime_session import start_message, stream_changes, with_session
from echoic.server.ws import (
    CLOSE_GOING_AWAY,
    CLOSE_NORMAL,
    CLOSE_OVERLOADED,
    CLOSE_RATE_LIMITED,
    CLOSE_UNAUTHORIZED,
    WsDeps,
    deps_of,
)
from echoic.streaming.config import StreamConfig
from echoic.streaming.events import Event
from echoic.streaming.live import LiveStream
from echoic.streaming.runner import Control, StreamAborted
from echoic.streaming.schedulers import Schedulers

router = APIRouter()

SUBPROTOCOL = "realtime"
KEY_SUBPROTOCOL = "openai-insecure-api-key."
PIECE_MS = 100  # a large append is fed in pieces of this much audio, paced by the queue
MIN_COMMIT_MS = 100  # OpenAI refuses to commit less audio than this
DRAIN_TIMEOUT_S = 30.0


@router.websocket("/v1/realtime")
async def realtime(websocket: WebSocket) -> None:
    await RealtimeConnection(websocket, deps_of(websocket)).serve()


@dataclass(frozen=True, kw_only=True)
class _Prepared:
    """A session configuration resolved to models and a stream configuration."""

    session: SessionConfig
    schedulers: Schedulers
    stream_config: StreamConfig
    model: str
    models: list[str]


class RealtimeConnection:
    def __init__(self, websocket: WebSocket, deps: WsDeps) -> None:
        self.ws = websocket
        self.deps = deps
        self.session = SessionConfig()
        self.prepared: _Prepared | None = None
        self.stream: LiveStream | None = None
        self.translator = Translator()
        self._beta = False
        self._uncommitted_samples = 0
        self._closed = False
        self._registration: AbstractContextManager[None] | None = None
        self._session_id = new_id("sess")

    # -- lifecycle --------------------------------------------------------------------------

    async def serve(self) -> None:
        offered = self.ws.scope.get("subprotocols") or []
        await self.ws.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
        try:
            principal = self.deps.authenticate
            if principal is not None:
                try:
                    principal = principal(_token(self.ws.headers, offered))
                except UnauthorizedError as exc:
                    await self._refuse(exc, "invalid_api_key", CLOSE_UNAUTHORIZED)
                    return
            with self.deps.acquire_stream(principal):
                self.deps.metrics.stream_opened()
                try:
                    await self._send(self._session_event("session.created"))
                    await self._run()
                finally:
                    self.deps.metrics.stream_closed()
        except RateLimitedError as exc:
            await self._refuse(exc, exc.code, CLOSE_RATE_LIMITED)
        except WebSocketDisconnect:
            pass
        finally:
            self._unregister()
            if self.stream is not None:
                await self.stream.cancel()

    async def _run(self) -> None:
        await read_frames(
            self.ws,
            stream=lambda: self.stream,
            idle_timeout_s=self.deps.idle_timeout_s,
            on_frame=self._on_message,
            on_idle=self._idle_timeout,
            on_stopped=self._stream_stopped,
        )

    # -- client events ----------------------------------------------------------------------

    async def _on_message(self, message: MutableMapping[str, Any]) -> bool:
        """Handle one frame; False when the connection is done."""
        if message.get("bytes") is not None:
            await self._error(
                RealtimeError(
                    code="invalid_event",
                    message="binary frames are not part of the protocol: send audio as "
                    "input_audio_buffer.append with base64 text",
                )
            )
            return True
        event = parse_event(message.get("text") or "")
        if isinstance(event, RealtimeError):
            await self._error(event)
            return True
        kind = event["type"]
        if kind in ("session.update", "transcription_session.update"):
            await self._update(event)
        elif kind == "input_audio_buffer.append":
            return await self._append(event)
        elif kind == "input_audio_buffer.commit":
            await self._commit(event)
        else:
            await self._clear()
        return True

    async def _update(self, event: dict[str, Any]) -> None:
        session = apply_update(self.session, event)
        if isinstance(session, RealtimeError):
            await self._error(session)
            return
        try:
            prepared = await self._prepare(session)
        except EchoicError as exc:
            await self._error(
                RealtimeError(
                    code=exc.code,
                    message=exc.message,
                    param="session.audio.input.transcription.model",
                    event_id=event.get("event_id"),
                    type="invalid_request_error" if exc.http_status < 500 else "server_error",
                )
            )
            return
        if self.stream is not None and stream_changes(self.session, session):
            # Audio so far keeps the configuration it was sent under; the next append opens a
            # stream with the new one.
            await self._end_stream()
        self._beta = event["type"] == "transcription_session.update"
        self.session, self.prepared = session, prepared
        self.translator.set_manual(session.turn_detection is None)
        kind = "transcription_session.updated" if self._beta else "session.updated"
        await self._send(self._session_event(kind))

    async def _append(self, event: dict[str, Any]) -> bool:
        if self.prepared is None:
            await self._error(
                RealtimeError(
                    code="session_not_configured",
                    message='send session.update (session.type "transcription") before audio',
                    event_id=event.get("event_id"),
                )
            )
            return True
        pcm = decode_append(event)
        if isinstance(pcm, RealtimeError):
            await self._error(pcm)
            return True
        if not pcm:
            return True
        if self.stream is None:
            await self._open(self.prepared)
        stream = self.stream
        assert stream is not None
        if stream.done:
            await self._stream_stopped()
            return False
        samples = pcm_to_float32(pcm, "pcm_s16le")
        self._uncommitted_samples += len(samples)
        piece = self.session.sample_rate * PIECE_MS // 1000
        try:
            if len(samples) <= piece:
                stream.send(samples)  # live audio: never blocks, as on /v1/listen
            else:
                for offset in range(0, len(samples), piece):  # a file's worth at once: paced
                    await stream.send_paced(samples[offset : offset + piece])
        except StreamAborted:
            await self._stream_stopped()
            return False
        return True

    async def _commit(self, event: dict[str, Any]) -> None:
        minimum = self.session.sample_rate * MIN_COMMIT_MS // 1000
        if self.stream is None or self._uncommitted_samples < minimum:
            await self._error(
                RealtimeError(
                    code="input_audio_buffer_commit_empty",
                    message=f"buffer too small: expected at least {MIN_COMMIT_MS} ms of audio, "
                    f"got {self._uncommitted_samples * 1000 // self.session.sample_rate} ms",
                    event_id=event.get("event_id"),
                )
            )
            return
        await self._drain()
        self._uncommitted_samples = 0
        stream = self.stream
        if self.translator.manual:
            events = self.translator.commit(stream.session_id, stream.session.utterances)
            for payload in events:
                await self._send(payload)
        stream.control(Control.FINALIZE)

    async def _clear(self) -> None:
        if self.stream is not None:
            await self._drain()
            stream = self.stream
            self.translator.clear(stream.session_id, stream.session.utterances)
            stream.control(Control.FINALIZE)
        self._uncommitted_samples = 0
        await self._send({"type": "input_audio_buffer.cleared", "event_id": new_id("event")})

    async def _drain(self) -> None:
        """Until the audio appended so far is in the session (controls outrank queued audio)."""
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        stream = self.stream
        # The runner has no "queue empty" event; a short poll, bounded by DRAIN_TIMEOUT_S.
        while (  # noqa: ASYNC110
            stream is not None
            and stream.runner.queued_frames
            and not stream.done
            and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.005)

    # -- the stream underneath --------------------------------------------------------------

    async def _prepare(self, session: SessionConfig) -> _Prepared:
        """What ``ws.Connection._open`` does for ``/v1/listen``, from a session configuration."""
        start = start_message(session, self.ws.query_params)
        settings = self.deps.settings
        plan = await plan_stream(
            start, settings=settings, providers=self.deps.providers, hub=self.deps.hub
        )
        config = with_session(plan.config, session)
        return _Prepared(
            session=session,
            schedulers=plan.schedulers,
            stream_config=config,
            model=plan.models.confirm_model,
            models=list(plan.models.names),
        )

    async def _open(self, prepared: _Prepared) -> None:
        self.stream = LiveStream(
            prepared.schedulers,
            self._emit,
            detector=self.deps.hub.detector(),
            config=prepared.stream_config,
            model=prepared.model,
            sample_rate=prepared.session.sample_rate,
        )
        await self.stream.__aenter__()
        self._registration = self.deps.hub.registered(self.stream)
        self._registration.__enter__()

    async def _end_stream(self) -> None:
        """Finish the stream (its last finals go out) before one with a new configuration."""
        if self.stream is not None:
            await self.stream.finish()
            self._unregister()
            self.stream = None
            self._uncommitted_samples = 0

    def _unregister(self) -> None:
        if self._registration is not None:
            self._registration.__exit__(None, None, None)
            self._registration = None

    async def _emit(self, event: Event) -> None:
        self.deps.metrics.event(event)
        for payload in self.translator.translate(event.to_dict()):
            await self._send(payload)

    # -- ends -------------------------------------------------------------------------------

    async def _idle_timeout(self) -> None:
        await self._error(
            RealtimeError(
                code="idle_timeout",
                message=f"no audio or events for {self.deps.idle_timeout_s:g} s",
                type="server_error",
            )
        )
        if self.stream is not None:
            await self.stream.finish()
        await self._close(CLOSE_NORMAL)

    async def _stream_stopped(self) -> None:
        assert self.stream is not None
        aborted = self.stream.runner.aborted
        await self.stream.cancel()
        if aborted:
            await self._close(CLOSE_OVERLOADED)
        else:
            await self._close(CLOSE_GOING_AWAY if self.deps.hub.closing else CLOSE_NORMAL)

    async def _refuse(self, exc: EchoicError, code: str, close: int) -> None:
        await self._error(RealtimeError(code=code, message=exc.message))
        await self._close(close)

    # -- sending ----------------------------------------------------------------------------

    def _session_event(self, kind: str) -> dict[str, Any]:
        model = self.prepared.model if self.prepared else (self.session.model or "")
        described = self.session.describe(model=model or self.deps.settings.model, beta=self._beta)
        described["id"] = self._session_id
        return {"type": kind, "event_id": new_id("event"), "session": described}

    async def _error(self, error: RealtimeError) -> None:
        await self._send(error.to_event())

    async def _send(self, payload: dict[str, Any]) -> None:
        if self._closed or self.ws.client_state is not WebSocketState.CONNECTED:
            return
        try:
            await self.ws.send_text(json.dumps(payload))
        except (WebSocketDisconnect, RuntimeError, OSError):
            self._closed = True

    async def _close(self, code: int) -> None:
        self._unregister()
        if self._closed or self.ws.client_state is not WebSocketState.CONNECTED:
            self._closed = True
            return
        self._closed = True
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await self.ws.close(code)


def _token(headers: Any, subprotocols: list[str]) -> str | None:
    """``Authorization: Bearer``, ``X-Api-Key``, or the subprotocol browsers use."""
    authorization = headers.get("authorization") or ""
    if authorization.lower().startswith("bearer "):
        return str(authorization[7:].strip()) or None
    if headers.get("x-api-key"):
        return str(headers["x-api-key"])
    for protocol in subprotocols:
        if protocol.startswith(KEY_SUBPROTOCOL):
            return protocol[len(KEY_SUBPROTOCOL) :] or None
    return None
