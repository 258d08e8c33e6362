"""``create_app``: the whole server from one settings object (DESIGN.md §5).

    app = create_app(Settings())                                  # models from the pool
    app = create_app(settings, {"tiny.en": ScriptedEngine.saying("hello")})   # tests

Everything the app holds lives in one :class:`~echoic.server.state.ServerState` on
``app.state.echoic``. Startup loads the default model in the background and runs a 1 s
self-test; ``/health`` answers at once, ``/ready`` once both are done. Shutdown (after uvicorn
has let in-flight requests finish) ends the live streams, then closes the engines the app
created; engines passed in belong to the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping

from fastapi import FastAPI

from echoic import __version__
from echoic.engines.base import Engine
from echoic.engines.registry import EnginePool
from echoic.engines.remote import RemoteConfig, RemoteEngine
from echoic.routing import probe_machine
from echoic.server import error_handlers, health, rest, ws
from echoic.server.auth import auth_required, authenticate_token
from echoic.server.limits import ModelGates, RateLimiter, StreamSlots
from echoic.server.metrics import Metrics, StreamRecorder
from echoic.server.middleware import ApiGuard, RequestIdMiddleware
from echoic.server.models import ServedModels
from echoic.server.state import Readiness, ServerState
from echoic.settings import Settings
from echoic.storage.keys import KeyStore, default_key_store
from echoic.streaming.events import Event
from echoic.streaming.hub import StreamHub

log = logging.getLogger(__name__)

_DESCRIPTION = """
Local-first speech-to-text with an OpenAI-compatible API.

The audio routes are also served under `/api/v1/…`. Live streams: WebSocket `/v1/listen`
(also `/api/v1/audio/stream/transcribe`). Send the API key as `Authorization: Bearer <key>` or
`X-API-Key: <key>` when the server requires one.
"""


def create_app(
    settings: Settings,
    engines: EnginePool | Mapping[str, Engine] | None = None,
    store: KeyStore | None = None,
    *,
    cloud: Engine | None = None,
) -> FastAPI:
    """The ASGI app. ``engines``: the local engines, a pool or model name → engine (tests);
    ``None`` builds pools from ``settings``. ``store``: where API keys live; ``None``: the
    SQLite file under ``settings.data_dir``. ``cloud``: the remote tier; ``None`` builds one
    from ``settings.cloud_url`` when set. Raises :class:`~echoic.errors.ConfigurationError`
    when the server must not start (a public address without API keys, no provider left)."""
    state = build_state(settings, engines, store, cloud=cloud)
    app = FastAPI(
        title="echoic",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lambda app: _lifespan(state),
    )
    app.state.echoic = state
    error_handlers.install(app, state.metrics)
    app.include_router(health.router)
    app.include_router(rest.router, prefix="/v1")
    app.include_router(rest.router, prefix="/api/v1", include_in_schema=False)
    _install_websocket(app, state)
    app.add_middleware(ApiGuard, state=state)
    app.add_middleware(RequestIdMiddleware)
    return app


def build_state(
    settings: Settings,
    engines: EnginePool | Mapping[str, Engine] | None = None,
    store: KeyStore | None = None,
    *,
    cloud: Engine | None = None,
) -> ServerState:
    keys = store if store is not None else default_key_store(settings.data_dir)
    required = auth_required(settings, keys)
    metrics = Metrics()
    owns_cloud = cloud is None
    if cloud is None and settings.cloud_url and settings.cloud_enabled:
        cloud = RemoteEngine(
            RemoteConfig(
                base_url=settings.cloud_url,
                api_key=settings.cloud_api_key.get_secret_value()
                if settings.cloud_api_key
                else None,
                model=settings.cloud_model,
                timeout_s=settings.cloud_timeout_s,
            )
        )
    machine = probe_machine()
    models = ServedModels(
        settings,
        engines,
        cloud=cloud,
        cuda_devices=machine["cuda_devices"],
        on_skip=metrics.fallback,
    )
    hub = StreamHub(
        models.engine_sync,
        on_wait=lambda model, kind, seconds: metrics.decode_waited(model, kind.value, seconds),
    )
    gates = ModelGates(settings.model_concurrency, settings.model_queue_timeout_s)
    metrics.add_queue_source(gates.depths)
    metrics.add_queue_source(
        lambda: {f"stream:{model}": depth for model, depth in hub.queue_depths().items()}
    )
    metrics.add_decode_source(hub.decode_counts)
    return ServerState(
        settings=settings,
        models=models,
        keys=keys,
        auth_required=required,
        limiter=RateLimiter(settings.rate_limit),
        streams=StreamSlots(settings.max_streams_per_key),
        gates=gates,
        metrics=metrics,
        stream_metrics=StreamRecorder(metrics),
        hub=hub,
        readiness=Readiness(
            machine=machine,
            mode=settings.stt_mode.value,
            providers=models.providers.describe,
        ),
        cloud=cloud if owns_cloud else None,
    )


@contextlib.asynccontextmanager
async def _lifespan(state: ServerState) -> AsyncIterator[None]:
    warm_up = asyncio.create_task(state.warm_up(), name="echoic:warm-up")
    try:
        yield
    finally:
        if not warm_up.done():
            warm_up.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await warm_up
        await state.hub.shutdown()
        await state.models.aclose()
        if state.cloud is not None:
            await state.cloud.aclose()
        log.info("server stopped")


def _install_websocket(app: FastAPI, state: ServerState) -> None:
    """The live WebSocket routes (``echoic.server.ws``) and what they need from the state."""
    recorder = state.stream_metrics

    class StreamMetrics(ws.StreamMetrics):
        def stream_opened(self) -> None:
            recorder.stream_opened()

        def stream_closed(self) -> None:
            recorder.stream_closed()

        def event(self, event: Event) -> None:
            recorder.event(event)

    def authenticate(token: str | None) -> object:
        return authenticate_token(state, token)

    state.ws_deps = ws.WsDeps(
        settings=state.settings,
        hub=state.hub,
        providers=state.models.providers,
        authenticate=authenticate if state.auth_required else None,
        acquire_stream=state.streams.acquire,
        metrics=StreamMetrics(),
        idle_timeout_s=state.settings.stream_idle_timeout_s,
    )
    app.include_router(ws.router)
