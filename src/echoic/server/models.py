"""The models a server offers: which names a request may use, and their engines.

A request names a model by its echoic name (``tiny.en``, ``base``), or as ``whisper-1`` (what
OpenAI clients send by default), which means the server's default model. Requests never name a
path: only the catalog's models and the ones the server was configured with can be asked for,
so a client cannot make the server load files of its choosing.

Local engines come from an :class:`~echoic.engines.registry.EnginePool` per device (one loaded
copy per model, loaded on first use) or, in tests and embeddings, from a fixed mapping of name to
engine. What a request gets is the model's :class:`~echoic.routing.Router`: the local engine
first, the cloud provider when it fails (:class:`~echoic.routing.Providers` decides the chain).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from echoic.clock import Clock
from echoic.engines.base import Engine
from echoic.engines.faster_whisper import DeviceConfig, resolve_device
from echoic.engines.models import CATALOG, MANIFEST
from echoic.engines.registry import EnginePool
from echoic.engines.remote import RemoteConfig, RemoteEngine
from echoic.errors import ModelNotFoundError
from echoic.routing import (
    BreakerConfig,
    Providers,
    ProvidersConfig,
    RetryPolicy,
    Router,
    RouterConfig,
    parse_chain,
    parse_per_tier,
)
from echoic.routing.budget import DEFAULT_TIMEOUT_PER_AUDIO_S, DEFAULT_TIMEOUT_S
from echoic.routing.fallback import SkipObserver
from echoic.settings import Settings
from echoic.streaming.modes import AUTO, auto_confirm_model
from echoic.types import SttMode

#: OpenAI's Whisper model name; clients send it by default. It means the server's default model.
WHISPER_1 = "whisper-1"


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    id: str
    installed: bool
    loaded: bool
    default: bool
    created: int = 0
    description: str | None = None
    english_only: bool | None = None
    alias_of: str | None = None


class ServedModels:
    def __init__(
        self,
        settings: Settings,
        engines: EnginePool | Mapping[str, Engine] | None = None,
        *,
        cloud: Engine | None = None,
        cuda_devices: int = 0,
        on_skip: SkipObserver | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._settings = settings
        self.owns_engines = engines is None
        self._pools: dict[str, EnginePool] = {}
        self._fixed: dict[str, Engine] = {}
        self._uses_pools = not isinstance(engines, Mapping)
        if isinstance(engines, EnginePool):
            self._pools[settings.device] = engines
        elif engines is not None:
            self._fixed = dict(engines)
        self.providers = Providers(
            providers_config(settings),
            local=self.local_engine_sync,
            local_device=self._local_device(),
            cloud=cloud,
            cuda_devices=cuda_devices,
            clock=clock,
            on_skip=on_skip,
        )

    def _local_device(self) -> str:
        if not self._uses_pools:
            first = next(iter(self._fixed.values()), None)
            return first.capabilities.device if first is not None else "cpu"
        if self._settings.device != "auto":
            return self._settings.device
        if not self._settings.local_enabled or self._settings.stt_mode is SttMode.FORCE_CLOUD:
            return "cpu"  # not used; do not touch the CUDA runtime for it
        return resolve_device(DeviceConfig(device="auto")).device

    def _pool(self, device: str | None) -> EnginePool:
        key = device or self._settings.device
        pool = self._pools.get(key)
        if pool is None:
            pool = EnginePool(
                self._settings.models_dir,
                DeviceConfig(
                    device=key,
                    compute_type=self._settings.compute_type if device is None else "default",
                    cpu_threads=self._settings.cpu_threads,
                    workers=self._settings.workers,
                ),
            )
            self._pools[key] = pool
        return pool

    def local_engine_sync(self, name: str, device: str | None = None) -> Engine:
        """The local engine for ``name`` on ``device`` (``None``: the configured one), loading it
        on first use (blocking)."""
        if not self._uses_pools:
            if name not in self._fixed:
                raise ModelNotFoundError(f"The model {name!r} does not exist on this server")
            return self._fixed[name]
        return self._pool(device).get(name)

    @property
    def default(self) -> str:
        return self._settings.model

    @property
    def names(self) -> list[str]:
        """Every name a request may use (besides ``whisper-1``)."""
        if not self._uses_pools:
            return sorted(self._fixed)
        configured = [n for n in (self._settings.model, self._settings.confirm_model) if n]
        return sorted(set(CATALOG) | set(configured))

    def name_for(self, requested: str | None) -> str:
        """The model a request means; raises :class:`ModelNotFoundError` (404) for others."""
        if not requested or requested == WHISPER_1:
            return self.default
        if requested not in self.names:
            known = ", ".join([*self.names, WHISPER_1])
            raise ModelNotFoundError(
                f"The model {requested!r} does not exist on this server; available: {known}"
            )
        return requested

    def engine_sync(self, requested: str | None) -> Router:
        """The router for a request's model, loading the model's local engines on first use
        (blocking: call it from a thread when the model may not be loaded yet)."""
        name = self.name_for(requested)
        if not self._uses_pools and name not in self._fixed:  # the default of a mapping lacking it
            raise ModelNotFoundError(f"The model {name!r} does not exist on this server")
        return self.providers.router(name)

    async def engine(self, requested: str | None) -> Router:
        name = self.name_for(requested)
        if any(r.name == f"router:{name}" for r in self.providers.routers()):
            return self.engine_sync(name)
        return await asyncio.to_thread(self.engine_sync, name)

    @property
    def loaded(self) -> list[str]:
        """The models with a local engine in memory."""
        if not self._uses_pools:
            built = {r.name.removeprefix("router:") for r in self.providers.routers()}
            return sorted(built) if self.providers.has_local else []
        return sorted({name for pool in self._pools.values() for name in pool.loaded})

    def describe(self) -> list[ModelInfo]:
        """Every model a request may name, and ``whisper-1``, in OpenAI's list order (by id)."""
        loaded = set(self.loaded)
        infos: list[ModelInfo] = []
        for name in self.names:
            spec = CATALOG.get(name) if self._uses_pools else None
            manifest = self._settings.models_dir / name / MANIFEST
            installed = not self._uses_pools or (spec is None or manifest.is_file())
            infos.append(
                ModelInfo(
                    id=name,
                    installed=installed,
                    loaded=name in loaded,
                    default=name == self.default,
                    created=_created(manifest) if spec is not None and installed else 0,
                    description=spec.description if spec else None,
                    english_only=spec.english_only if spec else None,
                )
            )
        default = next((i for i in infos if i.id == self.default), None)
        infos.append(
            ModelInfo(
                id=WHISPER_1,
                installed=default.installed if default else False,
                loaded=default.loaded if default else False,
                default=False,
                created=default.created if default else 0,
                description=f"alias of the server's default model, {self.default}",
                english_only=default.english_only if default else None,
                alias_of=self.default,
            )
        )
        return infos

    def find(self, model_id: str) -> ModelInfo:
        for info in self.describe():
            if info.id == model_id:
                return info
        self.name_for(model_id)  # raises the 404 with the list of models
        raise ModelNotFoundError(f"The model {model_id!r} does not exist on this server")

    async def aclose(self) -> None:
        """Close the engines this object created; engines passed in belong to the caller."""
        if self.owns_engines:
            for pool in self._pools.values():
                await pool.aclose()


def providers_config(settings: Settings) -> ProvidersConfig:
    """Raises :class:`~echoic.errors.ConfigurationError` for a chain or a budget that does not
    parse: the server refuses to start."""
    return ProvidersConfig(
        chain=parse_chain(settings.chain),
        mode=settings.stt_mode,
        local_enabled=settings.local_enabled,
        cloud_enabled=settings.cloud_enabled,
        allow_mode_override=settings.allow_mode_override,
        router=RouterConfig(
            timeout_s=parse_per_tier(
                settings.route_timeout_s, name="ECHOIC_ROUTE_TIMEOUT_S", default=DEFAULT_TIMEOUT_S
            ),
            timeout_per_audio_s=parse_per_tier(
                settings.route_timeout_per_audio_s,
                name="ECHOIC_ROUTE_TIMEOUT_PER_AUDIO_S",
                default=DEFAULT_TIMEOUT_PER_AUDIO_S,
                allow_zero=True,
            ),
            retry=RetryPolicy(retries=settings.route_retries),
        ),
        breaker=BreakerConfig(
            failures=settings.breaker_failures, cooldown_s=settings.breaker_cooldown_s
        ),
    )


def _created(manifest: Path) -> int:
    """When the model was installed: OpenAI's ``created`` (a Unix time) for a local model."""
    try:
        return int(manifest.stat().st_mtime)
    except OSError:
        return 0


def cloud_engine(settings: Settings) -> Engine | None:
    """The remote tier ``settings`` configure (``cloud_url``), or ``None``."""
    if not settings.cloud_url or not settings.cloud_enabled:
        return None
    key = settings.cloud_api_key
    return RemoteEngine(
        RemoteConfig(
            base_url=settings.cloud_url,
            api_key=key.get_secret_value() if key else None,
            model=settings.cloud_model,
            timeout_s=settings.cloud_timeout_s,
        )
    )


def with_confirm_model(settings: Settings) -> Settings:
    """``settings`` with ``confirm_model: auto`` replaced by the model it means on this machine
    (:func:`~echoic.streaming.modes.auto_confirm_model`: on CUDA the largest installed model
    worth confirming with, else none); unchanged for any other value."""
    if settings.confirm_model != AUTO:
        return settings
    device = resolve_device(DeviceConfig(device=settings.device)).device
    installed = {n for n in CATALOG if (settings.models_dir / n / MANIFEST).is_file()}
    spec = CATALOG.get(settings.model)
    chosen = auto_confirm_model(
        settings.model,
        device=device,
        installed=installed,
        english_only=spec is not None and spec.english_only,
    )
    return settings.model_copy(update={"confirm_model": chosen})
