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
import os
import socket
from collections.abc import AsyncIterator, Mapping

from fastapi import FastAPI

from echoic import __version__
from echoic.diarize.runner import DiarizerSlot, SpeakerFinder, diarizer_slot
from echoic.engines.base import Engine
from echoic.engines.registry import EnginePool
from echoic.jobs.housekeeping import housekeeping
from echoic.jobs.worker import Worker, worker_config
from echoic.routing import probe_machine
from echoic.server import (
    browser,
    error_handlers,
    health,
    job_events,
    jobs,
    realtime,
    rest,
    transcripts,
    web,
    ws,
)
from echoic.server.auth import auth_required, authenticate_token
from echoic.server.limits import ModelGates, RateLimiter
from echoic.server.metrics import Metrics, StreamRecorder
from echoic.server.middleware import ApiGuard, RequestIdMiddleware
from echoic.server.models import ServedModels, cloud_engine, with_confirm_model
from echoic.server.slots import StreamSlots
from echoic.server.state import Readiness, ServerState
from echoic.settings import Settings
from echoic.storage.keys import KeyStore
from echoic.storage.store import Store, open_store
from echoic.streaming.events import Event
from echoic.streaming.hub import StreamHub
from echoic.streaming.speakers import embeddings_of

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
    keys: KeyStore | None = None,
    *,
    store: Store | None = None,
    cloud: Engine | None = None,
    diarizer: SpeakerFinder | None = None,
) -> FastAPI:
    """The ASGI app. ``engines``: the local engines, a pool or model name → engine (tests);
    ``None`` builds pools from ``settings``. ``store``: media, jobs and transcripts; ``None``
    opens the database ``settings`` name (SQLite under ``data_dir`` by default). ``keys``: where
    API keys live; ``None``: the store. ``cloud``: the remote tier; ``None`` builds one from
    ``settings.cloud_url`` when set. ``diarizer``: who spoke when; ``None`` loads the voice
    encoder from ``settings.models_dir`` on the first request that diarizes. Raises
    :class:`~echoic.errors.ConfigurationError` when the server must not start (a public address
    without API keys, no provider left, a database it cannot reach)."""
    state = build_state(settings, engines, keys, store=store, cloud=cloud, diarizer=diarizer)
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
    for api in (jobs.router, job_events.router, transcripts.router):
        app.include_router(api, prefix="/v1")
        app.include_router(api, prefix="/api/v1", include_in_schema=False)
    _install_websocket(app, state)
    browser.install(app)
    app.add_middleware(ApiGuard, state=state)
    app.add_middleware(RequestIdMiddleware)
    web.install(app)
    return app


def build_state(
    settings: Settings,
    engines: EnginePool | Mapping[str, Engine] | None = None,
    keys: KeyStore | None = None,
    *,
    store: Store | None = None,
    cloud: Engine | None = None,
    diarizer: SpeakerFinder | None = None,
) -> ServerState:
    settings = with_confirm_model(settings)
    owns_store = store is None
    store = store if store is not None else open_store(settings)
    try:
        return _build_state(
            settings,
            engines,
            keys,
            store=store,
            cloud=cloud,
            owns_store=owns_store,
            diarizer=diarizer_slot(settings, diarizer),
        )
    except BaseException:
        if owns_store:
            store.close()
        raise


def _build_state(
    settings: Settings,
    engines: EnginePool | Mapping[str, Engine] | None,
    keys: KeyStore | None,
    *,
    store: Store,
    cloud: Engine | None,
    owns_store: bool,
    diarizer: DiarizerSlot,
) -> ServerState:
    keys = keys if keys is not None else store.keys
    required = auth_required(settings, keys)
    metrics = Metrics()
    owns_cloud = cloud is None
    if cloud is None:
        cloud = cloud_engine(settings)
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
        max_batch=settings.draft_batch,
        final_headroom=settings.final_headroom,
        final_batch=settings.final_batch,
        speakers=embeddings_of(diarizer.get),  # the requests' diarizer: one voice encoder
    )
    gates = ModelGates(settings.model_concurrency, settings.model_queue_timeout_s)
    metrics.add_queue_source(gates.depths)
    metrics.add_queue_source(
        lambda: {f"stream:{model}": depth for model, depth in hub.queue_depths().items()}
    )
    metrics.add_decode_source(hub.decode_counts)
    metrics.add_queue_source(
        lambda: {f"jobs:{status}": n for status, n in store.jobs.depth().items()}
    )
    state = ServerState(
        settings=settings,
        models=models,
        keys=keys,
        auth_required=required,
        limiter=RateLimiter(settings.rate_limit, settings.rate_limit_storage),
        streams=StreamSlots(settings.max_streams_per_key, settings.rate_limit_storage),
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
        store=store,
        owns_store=owns_store,
        diarizer=diarizer,
    )
    state.workers = [
        Worker(
            store,
            models.engine,
            worker_config(settings, f"{socket.gethostname()}:{os.getpid()}:{n}"),
            on_finished=lambda status: metrics.jobs.labels(status.value).inc(),
            slots=hub.compute_slots,
            diarizer=diarizer if settings.diarization_enabled else None,
        )
        for n in range(settings.workers_in_process)
    ]
    return state


@contextlib.asynccontextmanager
async def _lifespan(state: ServerState) -> AsyncIterator[None]:
    warm_up = asyncio.create_task(state.warm_up(), name="echoic:warm-up")
    stop = asyncio.Event()
    background = [
        asyncio.create_task(worker.run(stop), name=f"echoic:worker:{n}")
        for n, worker in enumerate(state.workers)
    ]
    background.append(
        asyncio.create_task(housekeeping(state.job_store(), stop), name="echoic:housekeeping")
    )
    try:
        yield
    finally:
        if not warm_up.done():
            warm_up.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await warm_up
        stop.set()  # running jobs stop at their next chunk and release their leases
        _, late = await asyncio.wait(background, timeout=state.settings.shutdown_timeout_s)
        for task in late:  # a download or decode that did not notice: its lease expires
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await state.hub.shutdown()
        await state.models.aclose()
        if state.cloud is not None:
            await state.cloud.aclose()
        state.streams.close()
        state.limiter.close()
        if state.owns_store:
            state.job_store().close()
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
    app.include_router(realtime.router)
