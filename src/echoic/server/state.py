"""Everything one server instance holds, in one object on ``app.state.echoic``.

:func:`echoic.server.app.create_app` builds it; nothing lives at module level, so two apps in
one process (as in tests) share nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import Request

from echoic.errors import EchoicError
from echoic.server.auth import Principal
from echoic.server.limits import ModelGates, RateLimiter, StreamSlots
from echoic.server.metrics import Metrics, StreamRecorder
from echoic.server.models import ServedModels
from echoic.settings import Settings
from echoic.storage.keys import KeyStore
from echoic.streaming.hub import StreamHub
from echoic.types import SAMPLE_RATE, Audio, TranscribeOptions

log = logging.getLogger(__name__)

SELF_TEST_S = 1.0  # seconds of synthetic audio in the startup self-test


@dataclass(kw_only=True)
class Readiness:
    """What ``/ready`` reports: the models loaded at startup and the self-test's outcome."""

    models: list[str] = field(default_factory=list)
    self_test_s: float | None = None
    self_test_slow: bool = False
    error: str | None = None
    ready: bool = False

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

    async def warm_up(self) -> None:
        """Load the default (and confirming) model and run 1 s of audio through the default;
        ``/ready`` answers 200 once this has passed."""
        readiness = self.readiness
        names = [self.settings.model]
        if self.settings.confirm_model and self.settings.confirm_model != self.settings.model:
            names.append(self.settings.confirm_model)
        try:
            for name in names:
                await self.models.engine(name)
                readiness.models.append(name)
            engine = await self.models.engine(self.settings.model)
            started = time.perf_counter()
            await engine.transcribe(_self_test_audio(), _SELF_TEST_OPTIONS)
            readiness.self_test_s = time.perf_counter() - started
        except EchoicError as exc:
            readiness.error = exc.message
            log.error("startup self-test failed", extra={"code": exc.code, "error": exc.message})
            return
        readiness.self_test_slow = readiness.self_test_s > self.settings.self_test_max_s
        if readiness.self_test_slow:
            log.warning(
                "the default model is slower than expected",
                extra={
                    "self_test_s": readiness.self_test_s,
                    "bound_s": self.settings.self_test_max_s,
                },
            )
        readiness.ready = True
        log.info(
            "ready",
            extra={"models": readiness.models, "self_test_s": round(readiness.self_test_s, 3)},
        )


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
