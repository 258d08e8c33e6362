"""What both live WebSocket protocols share (``/v1/listen`` and ``/v1/realtime``): the read
loop, and planning a stream from its ``start`` configuration.

One frame is read at a time and handed over; while it waits, the loop also watches the stream
(it may stop on its own: server shutdown, a fatal error) and the idle timeout. The protocols
differ only in what they do with a frame, an idle connection and a stopped stream, and in how a
client says what it wants (a ``start`` message, a ``session.update``): both become a
:class:`~echoic.streaming.protocol.StartMessage` and then the same :class:`StreamPlan`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, replace
from typing import Any

from fastapi import WebSocket

from echoic.routing import Providers
from echoic.settings import Settings
from echoic.streaming.config import StreamConfig
from echoic.streaming.hub import StreamHub
from echoic.streaming.live import LiveStream, stream_language
from echoic.streaming.modes import StreamModels, stream_models
from echoic.streaming.protocol import StartMessage
from echoic.streaming.schedulers import Schedulers
from echoic.types import SttMode

Frame = MutableMapping[str, Any]


async def read_frames(
    ws: WebSocket,
    *,
    stream: Callable[[], LiveStream | None],
    idle_timeout_s: float,
    on_frame: Callable[[Frame], Awaitable[bool]],
    on_idle: Callable[[], Awaitable[None]],
    on_stopped: Callable[[], Awaitable[None]],
) -> None:
    """Hand each frame of ``ws`` to ``on_frame`` until it returns False or the client leaves;
    ``on_idle`` after ``idle_timeout_s`` without a frame, ``on_stopped`` when the open stream
    (``stream()``, asked again after every frame) stops first. Either ends the loop."""
    receiver = asyncio.ensure_future(ws.receive())
    try:
        while True:
            waiters: set[asyncio.Future[Any]] = {receiver}
            stopped = None
            live = stream()
            if live is not None:
                stopped = asyncio.ensure_future(live.stopped.wait())
                waiters.add(stopped)
            done, _ = await asyncio.wait(
                waiters, timeout=idle_timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
            if stopped is not None and not stopped.done():
                stopped.cancel()
            if not done:
                await on_idle()
                return
            if receiver not in done:
                await on_stopped()
                return
            message = receiver.result()
            if message["type"] == "websocket.disconnect":
                return
            if not await on_frame(message):
                return
            receiver = asyncio.ensure_future(ws.receive())
    finally:
        if not receiver.done():
            receiver.cancel()
            with contextlib.suppress(BaseException):
                await receiver


@dataclass(frozen=True, kw_only=True)
class StreamPlan:
    """What a stream that asked for ``start`` runs with on this server."""

    models: StreamModels
    #: The routing mode asked for (``None``: the server's).
    mode: SttMode | None
    config: StreamConfig
    schedulers: Schedulers


async def plan_stream(
    start: StartMessage,
    *,
    settings: Settings,
    providers: Providers,
    hub: StreamHub,
) -> StreamPlan:
    """The models, mode and configuration of a stream, its models loaded; raises
    :class:`~echoic.errors.EchoicError` (a 4xx) for what this server does not offer."""
    models = stream_models(
        start.model or settings.model,
        mode=start.mode,
        confirm_model=start.confirm_model,
        default_confirm_model=settings.confirm_model,
    )
    mode = providers.check_mode(start.stt_mode)
    engines = [await asyncio.to_thread(hub.engine, m) for m in models.names]
    base = StreamConfig(client_grace_ms=round(settings.client_transcript_grace_s * 1000))
    config = start.stream_config(base, speculative=models.speculative)
    config = config.with_language(stream_language(start.language, engines)).with_mode(mode)
    if not providers.local_for(mode):
        # Drafts run locally only (a remote call every 250 ms is not worth it).
        config = replace(config, interim_results=False, confirm_interval_ms=None)
    return StreamPlan(
        models=models,
        mode=mode,
        config=config,
        schedulers=hub.schedulers(models.model, models.confirm_model),
    )
