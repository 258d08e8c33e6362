"""The provider registry: which tiers a server routes through, and one router per model.

The chain comes from configuration (``ECHOIC_CHAIN``, default ``local,cloud``): ``local`` (the
configured device), ``local:cpu``, ``local:cuda`` and ``cloud`` (the remote OpenAI-compatible
provider), in order. At startup the capability probe drops what cannot run here (``local:cuda``
without a CUDA device, ``cloud`` without a URL) and what the server's mode or kill switches
exclude, each with a log line. Every provider has one circuit breaker, shared by the routers of
all models, so a failing local device is demoted for every model at once.

    providers = Providers(ProvidersConfig(chain=("local", "cloud")), local=load, cloud=remote)
    router = providers.router("tiny.en")          # Tier local:cpu → Tier cloud
    providers.check_mode(SttMode.FORCE_CLOUD)     # a request's override, or a 400
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from echoic.clock import Clock, SystemClock
from echoic.engines.base import Engine
from echoic.errors import ConfigurationError, InvalidParameterError
from echoic.routing.breaker import BreakerConfig, CircuitBreaker
from echoic.routing.fallback import Router, RouterConfig, SkipObserver, Tier
from echoic.types import SttMode

log = logging.getLogger(__name__)

#: (model name, device or None for the configured one) → the loaded local engine (may block).
LocalFactory = Callable[[str, str | None], Engine]


@dataclass(frozen=True, kw_only=True)
class ProvidersConfig:
    chain: tuple[str, ...] = ("local", "cloud")
    mode: SttMode = SttMode.AUTO
    local_enabled: bool = True
    cloud_enabled: bool = True
    #: May a request choose its own mode (within the tiers this server has)?
    allow_mode_override: bool = True
    router: RouterConfig = field(default_factory=RouterConfig)
    breaker: BreakerConfig = field(default_factory=BreakerConfig)


@dataclass(frozen=True, kw_only=True)
class TierSpec:
    name: str  # local:cpu, local:cuda, cloud
    source: str  # local | cloud
    device: str | None  # for local tiers: cpu | cuda; None: the configured device


def parse_chain(text: str) -> tuple[str, ...]:
    """``"local:cuda, local:cpu,cloud"`` → ``("local:cuda", "local:cpu", "cloud")``."""
    entries = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    for entry in entries:
        if entry not in ("local", "local:cpu", "local:cuda", "cloud", "remote"):
            raise ConfigurationError(
                f"unknown provider {entry!r} in the chain; use local, local:cpu, local:cuda "
                "and cloud, separated by commas"
            )
    if not entries:
        raise ConfigurationError("the provider chain is empty; e.g. ECHOIC_CHAIN=local,cloud")
    return tuple("cloud" if e == "remote" else e for e in entries)


def probe_machine() -> dict[str, Any]:
    """The capability probe: what this machine offers a local engine."""
    try:
        import ctranslate2

        cuda_devices = int(ctranslate2.get_cuda_device_count())
    except Exception:  # no CUDA runtime at all: the probe's answer is "none"
        cuda_devices = 0
    try:
        memory_mb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20
    except (ValueError, OSError, AttributeError):
        memory_mb = None
    return {
        "cuda_devices": cuda_devices,
        "cpu_count": os.cpu_count(),
        "memory_mb": memory_mb,
    }


class Providers:
    def __init__(
        self,
        config: ProvidersConfig,
        *,
        local: LocalFactory | None,
        local_device: str,
        cloud: Engine | None,
        cuda_devices: int = 0,
        clock: Clock | None = None,
        on_skip: SkipObserver | None = None,
    ) -> None:
        """``local_device``: what ``local`` means (``cpu`` or ``cuda``, resolved). ``cloud``:
        the remote engine, or ``None`` when no provider is configured."""
        self.config = config
        self._local = local
        self._cloud = cloud
        self._clock = clock or SystemClock()
        self._on_skip = on_skip
        self.specs = self._plan(config, local_device, cuda_devices)
        if not self.specs:
            raise ConfigurationError(
                "no transcription provider is left: "
                + ", ".join(self.dropped)
                + ". Enable the local engine (ECHOIC_LOCAL_ENABLED=true) or configure a cloud "
                "provider (ECHOIC_CLOUD_URL)."
            )
        self.breakers = {spec.name: CircuitBreaker(config.breaker) for spec in self.specs}
        self._routers: dict[str, Router] = {}
        self._lock = threading.Lock()

    def _plan(
        self, config: ProvidersConfig, local_device: str, cuda_devices: int
    ) -> list[TierSpec]:
        self.dropped: list[str] = []
        specs: list[TierSpec] = []
        for entry in config.chain:
            source, _, device = entry.partition(":")
            name = "cloud" if source == "cloud" else f"local:{device or local_device}"
            why = self._excluded(config, source, device or local_device, cuda_devices)
            if why is None and any(s.name == name for s in specs):
                why = "listed twice"
            if why is not None:
                self.dropped.append(f"{name} ({why})")
                log.info("provider %s left out: %s", name, why)
                continue
            specs.append(TierSpec(name=name, source=source, device=device or None))
        return specs

    def _excluded(
        self, config: ProvidersConfig, source: str, device: str, cuda_devices: int
    ) -> str | None:
        if source == "local":
            if not config.local_enabled:
                return "the local engine is switched off (ECHOIC_LOCAL_ENABLED=false)"
            if config.mode is SttMode.FORCE_CLOUD:
                return "the server runs force_cloud"
            if self._local is None:
                return "no local engine"
            if device == "cuda" and cuda_devices == 0:
                return "no CUDA device on this machine"
            return None
        if not config.cloud_enabled:
            return "the cloud provider is switched off (ECHOIC_CLOUD_ENABLED=false)"
        if config.mode is SttMode.FORCE_LOCAL:
            return "the server runs force_local"
        if self._cloud is None:
            return "no cloud provider configured (ECHOIC_CLOUD_URL)"
        return None

    @property
    def sources(self) -> set[str]:
        return {spec.source for spec in self.specs}

    @property
    def has_local(self) -> bool:
        return "local" in self.sources

    def check_mode(self, requested: SttMode | None) -> SttMode | None:
        """A request's mode, if this server allows it; raises a 400 naming ``stt_mode``."""
        if requested is None or requested is SttMode.AUTO:
            return None
        if not self.config.allow_mode_override and requested is not self.config.mode:
            raise InvalidParameterError(
                f"This server does not let requests choose stt_mode (it runs "
                f"{self.config.mode.value}).",
                param="stt_mode",
            )
        wanted = "local" if requested is SttMode.FORCE_LOCAL else "cloud"
        if wanted not in self.sources:
            raise InvalidParameterError(
                f"stt_mode {requested.value!r} is not available on this server: it has no "
                f"{wanted} provider ({', '.join(self.dropped) or 'none configured'}).",
                param="stt_mode",
            )
        return requested

    def router(self, model: str) -> Router:
        """The router for ``model``, built once; loads the local engines (blocking)."""
        with self._lock:
            router = self._routers.get(model)
            if router is None:
                router = Router(
                    [self._tier(spec, model) for spec in self.specs],
                    config=self.config.router,
                    clock=self._clock,
                    on_skip=self._on_skip,
                    name=f"router:{model}",
                )
                self._routers[model] = router
            return router

    def _tier(self, spec: TierSpec, model: str) -> Tier:
        if spec.source == "cloud":
            assert self._cloud is not None  # _plan keeps cloud only when there is one
            engine = self._cloud
        else:
            assert self._local is not None
            engine = self._local(model, spec.device)
        return Tier(
            name=spec.name, source=spec.source, engine=engine, breaker=self.breakers[spec.name]
        )

    def local_tier(self) -> str | None:
        return next((s.name for s in self.specs if s.source == "local"), None)

    def demote(self, name: str, reason: str) -> bool:
        """Open ``name``'s circuit now (a failed or slow self-test). Refused (False) when it is
        the only provider: a slow answer beats none."""
        if name not in self.breakers or len(self.specs) < 2:
            return False
        self.breakers[name].demote(self._clock.now(), reason)
        log.warning("provider %s demoted: %s", name, reason, extra={"tier": name})
        return True

    def describe(self) -> list[dict[str, Any]]:
        """What ``/ready`` shows of each provider."""
        now = self._clock.now()
        out = []
        for spec in self.specs:
            breaker = self.breakers[spec.name]
            state = breaker.state(now)
            out.append(
                {
                    "name": spec.name,
                    "source": spec.source,
                    "state": state.value,
                    "reason": breaker.reason if state.value != "closed" else None,
                    "consecutive_failures": breaker.consecutive_failures,
                    "retry_after_s": _round(breaker.retry_after_s(now)),
                }
            )
        return out

    def routers(self) -> Sequence[Router]:
        with self._lock:
            return list(self._routers.values())

    def local_for(self, mode: SttMode | None) -> bool:
        """Whether calls in ``mode`` may run on a local tier (live drafts need one)."""
        return self.has_local and mode is not SttMode.FORCE_CLOUD


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
