"""The live WebSocket protocol (DESIGN.md §2): ``/v1/listen`` and
``/api/v1/audio/stream/transcribe``.

One connection is one stream. Binary frames are PCM audio; text frames are JSON control
messages; events go back as JSON text frames. The handler only translates between the socket
and a :class:`~echoic.streaming.live.LiveStream`: everything about utterances lives in the
streaming package. Nothing a client sends ends the connection with a crash: bad messages get
an ``error`` event, bad configuration or credentials a close code (4400, 4401, 4429), overload
1013, server shutdown ``end`` and 1001.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, MutableMapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from echoic.errors import (
    EchoicError,
    InvalidParameterError,
    RateLimitedError,
    UnauthorizedError,
)
from echoic.routing import Providers
from echoic.server.frames import plan_stream, read_frames
from echoic.settings import Settings
from echoic.streaming.config import StreamConfig
from echoic.streaming.events import Event, EventType
from echoic.streaming.hub import StreamHub
from echoic.streaming.live import LiveStream
from echoic.streaming.protocol import (
    ProtocolError,
    StartMessage,
    parse_audio,
    parse_start,
    parse_text,
    parse_transcript,
)
from echoic.streaming.runner import Control

log = logging.getLogger(__name__)

router = APIRouter()

AUTH_TIMEOUT_S = 5.0
CLOSE_NORMAL, CLOSE_GOING_AWAY, CLOSE_OVERLOADED, CLOSE_INTERNAL = 1000, 1001, 1013, 1011
CLOSE_BAD_REQUEST, CLOSE_UNAUTHORIZED, CLOSE_RATE_LIMITED = 4400, 4401, 4429
_CONTROLS = {
    "finalize": Control.FINALIZE,
    "pause": Control.PAUSE,
    "resume": Control.RESUME,
}


class StreamMetrics:
    """What the WebSocket reports to metrics; the server's metrics module implements it."""

    def stream_opened(self) -> None: ...
    def stream_closed(self) -> None: ...
    def event(self, event: Event) -> None: ...


@dataclass(frozen=True, kw_only=True)
class WsDeps:
    settings: Settings
    hub: StreamHub
    providers: Providers
    #: Token (or None) → principal; raises UnauthorizedError. ``None`` when auth is off.
    authenticate: Callable[[str | None], Any] | None
    #: A stream slot for the principal; raises RateLimitedError past the stream cap.
    acquire_stream: Callable[[Any], AbstractContextManager[object]]
    metrics: StreamMetrics
    idle_timeout_s: float = 30.0


def deps_of(websocket: WebSocket) -> WsDeps:
    deps = websocket.app.state.echoic.ws_deps
    assert isinstance(deps, WsDeps)  # built by create_app
    return deps


@router.websocket("/v1/listen")
@router.websocket("/api/v1/audio/stream/transcribe")
async def listen(websocket: WebSocket) -> None:
    await Connection(websocket, deps_of(websocket)).serve()


class Connection:
    def __init__(self, websocket: WebSocket, deps: WsDeps) -> None:
        self.ws = websocket
        self.deps = deps
        self.stream: LiveStream | None = None
        self.start: StartMessage | None = None
        self._closed = False
        #: ``stop`` came on a stream whose client transcribes: reading goes on until ``end``.
        self._stopping = False
        self._opened_at = time.monotonic()
        self._registration: AbstractContextManager[None] | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def serve(self) -> None:
        await self.ws.accept()
        try:
            principal = await self._authenticate()
            if principal is _REJECTED:
                return
            with self.deps.acquire_stream(principal):
                self.deps.metrics.stream_opened()
                try:
                    await self._run()
                finally:
                    self.deps.metrics.stream_closed()
        except RateLimitedError as exc:
            await self._refuse(exc, CLOSE_RATE_LIMITED)
        except WebSocketDisconnect:
            pass
        finally:
            self._unregister()
            if self.stream is not None:
                await self.stream.cancel()  # no-op after a clean finish

    async def _authenticate(self) -> Any:
        if self.deps.authenticate is None:
            return None
        token = _token_from_headers(self.ws.headers)
        if token is None:
            try:
                first = await asyncio.wait_for(self.ws.receive_text(), AUTH_TIMEOUT_S)
            except (TimeoutError, KeyError, WebSocketDisconnect, RuntimeError):
                first = ""
            message = parse_text(first)
            if isinstance(message, dict) and message["type"] == "auth":
                token = str(message.get("token") or "") or None
        try:
            return self.deps.authenticate(token)
        except UnauthorizedError as exc:
            await self._refuse(exc, CLOSE_UNAUTHORIZED)
            return _REJECTED

    async def _run(self) -> None:
        await read_frames(
            self.ws,
            stream=lambda: self.stream,
            idle_timeout_s=self.deps.idle_timeout_s,
            on_frame=self._on_message,
            on_idle=self._idle_timeout,
            on_stopped=self._stream_stopped,
        )

    # -- messages ---------------------------------------------------------------------------

    async def _on_message(self, message: MutableMapping[str, Any]) -> bool:
        """Handle one frame; False when the connection is done."""
        if message.get("bytes") is not None:
            if self._stopping:
                return True  # after stop: nothing more to transcribe
            if self.stream is None and not await self._open(None):
                return False
            assert self.stream is not None
            assert self.start is not None
            audio = parse_audio(message["bytes"], self.start)
            if isinstance(audio, ProtocolError):
                await self._error(audio.code, audio.message)
            elif len(audio):
                self.stream.send(audio)
            return True
        parsed = parse_text(message.get("text") or "")
        if isinstance(parsed, ProtocolError):
            await self._error(parsed.code, parsed.message)
            return True
        kind = parsed["type"]
        if kind == "start":
            if self.stream is not None:
                await self._error("invalid_message", "start must be the first message")
                return True
            return await self._open(parsed)
        if self.stream is None and not await self._open(None):
            return False
        assert self.stream is not None
        if kind == "stop" and self.start is not None and self.start.client_transcripts:
            # The stop ends the open utterance, whose transcript the client sends after it: keep
            # reading; the stream's end (``stopped``) closes the connection in ``_run``.
            self._stopping = True
            self.stream.request_stop()
            return True
        if kind == "stop":
            await self.stream.finish()
            await self._close(CLOSE_NORMAL)
            return False
        if kind in _CONTROLS:
            self.stream.control(_CONTROLS[kind])
        elif kind == "transcript":
            supplied = parse_transcript(parsed)
            if isinstance(supplied, ProtocolError):
                await self._error(supplied.code, supplied.message)
            else:
                self.stream.client_transcript(supplied)
        # keepalive: receiving it already reset the idle timer; auth: already authenticated
        return True

    async def _open(self, start_message: dict[str, Any] | None) -> bool:
        """Start the stream from the query parameters and an optional ``start`` message."""
        fields: dict[str, Any] = {
            k: v for k, v in self.ws.query_params.items() if k not in ("token", "type")
        }
        if start_message is not None:
            fields.update(start_message)
        start = parse_start(fields)
        if isinstance(start, ProtocolError):
            await self._error(start.code, start.message)
            await self._close(CLOSE_BAD_REQUEST)
            return False
        settings = self.deps.settings
        try:
            if start.diarization:
                await self._check_diarization()
            plan = await plan_stream(
                start, settings=settings, providers=self.deps.providers, hub=self.deps.hub
            )
        except EchoicError as exc:
            await self._error(exc.code, exc.message)
            await self._close(CLOSE_BAD_REQUEST if exc.http_status < 500 else CLOSE_INTERNAL)
            return False
        config, models, mode = plan.config, plan.models, plan.mode
        self.start = start
        self.stream = LiveStream(
            plan.schedulers,
            self._emit,
            detector=self.deps.hub.detector(),
            config=config,
            model=models.confirm_model,
            sample_rate=start.sample_rate,
            ready={
                "config": start.model_dump(exclude={"type"}, mode="json"),
                "models": models.names,
                # What the stream does: a remote-only stream has no confirmations to show.
                "mode": config.mode.value,
                "stt_mode": (mode or settings.stt_mode).value,
                "providers": [p["name"] for p in self.deps.providers.describe()],
                "interim_results": _interim_results(config),
                "diarization": config.diarization,
            },
            embed=self.deps.hub.speakers.embed
            if config.diarization and self.deps.hub.speakers is not None
            else None,
        )
        await self.stream.__aenter__()
        self._registration = self.deps.hub.registered(self.stream)
        self._registration.__enter__()
        return True

    async def _check_diarization(self) -> None:
        """Refuse a diarizing stream the server cannot serve, before any audio: turned off
        (400), or no voice encoder (503, naming the install command). Loads the encoder on the
        first stream that asks."""
        speakers = self.deps.hub.speakers
        if not self.deps.settings.diarization_enabled or speakers is None:
            raise InvalidParameterError(
                "Speaker diarization is turned off on this server (ECHOIC_DIARIZATION_ENABLED): "
                "start the stream without diarization.",
                param="diarization",
            )
        await asyncio.to_thread(speakers.load)

    def _unregister(self) -> None:
        if self._registration is not None:
            self._registration.__exit__(None, None, None)
            self._registration = None

    # -- ends -------------------------------------------------------------------------------

    async def _idle_timeout(self) -> None:
        await self._error(
            "idle_timeout",
            f"no audio or keepalive for {self.deps.idle_timeout_s:g} s",
            retryable=True,
        )
        if self.stream is not None:
            await self.stream.finish()
        await self._close(CLOSE_NORMAL)

    async def _stream_stopped(self) -> None:
        """The stream ended: after the client's ``stop`` (client transcripts), or without the
        client asking: overload, or server shutdown."""
        assert self.stream is not None
        aborted = self.stream.runner.aborted
        await self.stream.cancel()  # collects the runner's outcome
        if aborted:
            await self._close(CLOSE_OVERLOADED)
        else:
            await self._close(CLOSE_GOING_AWAY if self.deps.hub.closing else CLOSE_NORMAL)

    async def _refuse(self, exc: EchoicError, code: int) -> None:
        await self._error(exc.code, exc.message, retryable=exc.retryable)
        await self._close(code)

    # -- sending ----------------------------------------------------------------------------

    async def _emit(self, event: Event) -> None:
        self.deps.metrics.event(event)
        await self._send(event.to_dict())

    async def _error(self, code: str, message: str, *, retryable: bool = False) -> None:
        if self.stream is not None:
            event = self.stream.session.error(code, message, time.monotonic(), retryable=retryable)
            await self._emit(event)
        else:
            await self._send(
                {
                    "type": EventType.ERROR.value,
                    "seq": 0,
                    "session_id": None,
                    "t": round(time.monotonic() - self._opened_at, 3),
                    "code": code,
                    "message": message,
                    "retryable": retryable,
                }
            )

    async def _send(self, payload: dict[str, Any]) -> None:
        if self._closed or self.ws.client_state is not WebSocketState.CONNECTED:
            return
        try:
            await self.ws.send_text(json.dumps(payload))
        except (WebSocketDisconnect, RuntimeError, OSError):
            self._closed = True  # the client is gone; the stream is cancelled on the way out

    async def _close(self, code: int) -> None:
        self._unregister()
        if self._closed or self.ws.client_state is not WebSocketState.CONNECTED:
            self._closed = True
            return
        self._closed = True
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await self.ws.close(code)


_REJECTED = object()


def _token_from_headers(headers: Any) -> str | None:
    authorization = headers.get("authorization") or ""
    if authorization.lower().startswith("bearer "):
        return str(authorization[7:].strip()) or None
    return headers.get("x-api-key") or None


def _interim_results(config: StreamConfig) -> bool | str:
    """What the stream sends before each final, as the ``start`` message says it."""
    if config.client_transcripts:
        return False
    if config.interim_results:
        return True
    return "confirmed" if config.confirms else False
