"""Everything one server instance holds, in one object on ``app.state.echoic``.

:func:`echoic.server.app.create_app` builds it; nothing lives at module level, so two apps in
one process (as in tests) share nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import Request

from echoic.diarize.runner import DiarizerSlot, SpeakerFinder
from echoic.engines.base import Engine
from echoic.errors import EchoicError, ModelNotInstalledError
from echoic.jobs.worker import Worker
from echoic.server.auth import Principal
from echoic.server.limits import ModelGates, RateLimiter
from echoic.server.metrics import Metrics, StreamRecorder
from echoic.server.models import ServedModels
from echoic.server.slots import StreamSlots
from echoic.settings import Settings
from echoic.storage.keys import KeyStore
from echoic.storage.store import Store
from echoic.streaming.hub import StreamHub
from echoic.types import SAMPLE_RATE, Audio, TranscribeOptions

log = logging.getLogger(__name__)

SELF_TEST_S = 1.0  # seconds of synthetic audio in the startup self-test


@dataclass(kw_only=True)
class Readiness:
    """What ``/ready`` reports: the capability probe, the models loaded at startup, the
    self-test's outcome and the providers' circuits (read live from ``providers``)."""

    machine: dict[str, Any] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    self_test_s: float | None = None
    self_test_slow: bool = False
    error: str | None = None
    ready: bool = False
    mode: str = "auto"
    providers: Callable[[], list[dict[str, Any]]] = list

    def to_dict(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "models_loaded": self.models,
            "self_test": None
            if self.self_test_s is None
            else {
                "passed": True,
                "seconds": round(self.self_test_s, 3),
                "slow": self.self_test_slow,
            },
            "error": self.error,
            "mode": self.mode,
            "providers": self.providers(),
            "machine": self.machine,
        }


@dataclass(kw_only=True, eq=False)
class ServerState:
    settings: Settings
    models: ServedModels
    keys: KeyStore
    auth_required: bool
    limiter: RateLimiter
    streams: StreamSlots
    gates: ModelGates
    metrics: Metrics
    stream_metrics: StreamRecorder
    hub: StreamHub
    readiness: Readiness = field(default_factory=Readiness)
    #: The WebSocket handler's dependencies (``echoic.server.ws.WsDeps``), when it is installed.
    ws_deps: Any = None
    #: The remote engine the app built (and closes); ``None`` when there is none or it was
    #: passed in by the caller.
    cloud: Engine | None = None
    #: Media, jobs and transcripts (and, unless the caller gave other ``keys``, the API keys).
    store: Store | None = None
    #: Whether the app opened ``store`` (and closes it).
    owns_store: bool = False
    #: The job workers running in this process.
    workers: list[Worker] = field(default_factory=list)
    #: The speaker diarizer, loaded by the first request (or job) that diarizes.
    diarizer: DiarizerSlot = field(default_factory=lambda: DiarizerSlot(_no_diarizer))

    def job_store(self) -> Store:
        if self.store is None:
            raise RuntimeError("this server has no store")
        return self.store

    def wake_workers(self) -> None:
        for worker in self.workers:
            worker.wake()

    async def warm_up(self) -> None:
        """Load the default (and confirming) model's local engines and run 1 s of audio
        through the local one; ``/ready`` answers 200 once this has passed. A local engine
        slower than ``self_test_max_s`` starts demoted (circuit open) when a cloud tier can
        take over. A server without local engines (``force_cloud``) loads nothing."""
        readiness = self.readiness
        providers = self.models.providers
        if not providers.has_local:
            readiness.ready = True
            log.info("ready", extra={"mode": readiness.mode, "providers": providers.describe()})
            return
        names = [self.settings.model]
        if self.settings.confirm_model and self.settings.confirm_model != self.settings.model:
            names.append(self.settings.confirm_model)
        try:
            for name in names:
                await self.models.engine(name)
                readiness.models.append(name)
            router = await self.models.engine(self.settings.model)
            local = router.local_engine()
            assert local is not None  # providers.has_local
            started = time.perf_counter()
            await local.transcribe(_self_test_audio(), _SELF_TEST_OPTIONS)
            readiness.self_test_s = time.perf_counter() - started
        except EchoicError as exc:
            readiness.error = exc.message
            log.error("startup self-test failed", extra={"code": exc.code, "error": exc.message})
            return
        bound = self.settings.self_test_max_s
        readiness.self_test_slow = readiness.self_test_s > bound
        if readiness.self_test_slow:
            reason = (
                f"the startup self-test took {readiness.self_test_s:.2f} s "
                f"(bound {bound:g} s): too slow for this machine"
            )
            tier = providers.local_tier()
            demoted = tier is not None and providers.demote(tier, reason)
            log.warning(
                reason if demoted else reason + "; no other provider, so it serves anyway",
                extra={"self_test_s": readiness.self_test_s, "bound_s": bound, "tier": tier},
            )
        readiness.ready = True
        log.info(
            "ready",
            extra={"models": readiness.models, "self_test_s": round(readiness.self_test_s, 3)},
        )


def _no_diarizer() -> SpeakerFinder:
    raise ModelNotInstalledError("This server has no speaker diarizer.")


_SELF_TEST_OPTIONS = TranscribeOptions(beam_size=1, temperature=0.0, vad_filter=False)


def _self_test_audio() -> Audio:
    """A 1 s chirp at a speaking level: exercises the whole decoder without real speech."""
    t = np.arange(int(SELF_TEST_S * SAMPLE_RATE), dtype=np.float32) / SAMPLE_RATE
    return (0.1 * np.sin(2 * np.pi * (200 + 400 * t) * t)).astype(np.float32)


def state_of(request: Request) -> ServerState:
    state = request.app.state.echoic
    if not isinstance(state, ServerState):
        raise TypeError("app.state.echoic is not a ServerState; build the app with create_app")
    return state


@dataclass(kw_only=True)
class RequestInfo:
    """What the API guard and a handler learn about one request, for logs and metrics."""

    principal: Principal | None = None
    endpoint: str = ""
    model: str | None = None
    source: str = "none"


def request_info(request: Request) -> RequestInfo:
    info = request.scope.setdefault("echoic", RequestInfo())
    assert isinstance(info, RequestInfo)
    return info
