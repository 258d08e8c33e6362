"""The models a server offers: which names a request may use, and their engines.

A request names a model by its echoic name (``tiny.en``, ``base``), or as ``whisper-1`` (what
OpenAI clients send by default), which means the server's default model. Requests never name a
path: only the catalog's models and the ones the server was configured with can be asked for,
so a client cannot make the server load files of its choosing.

Engines come from an :class:`~echoic.engines.registry.EnginePool` (one loaded copy per model,
loaded on first use) or, in tests and embeddings, from a fixed mapping of name to engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from echoic.engines.base import Engine
from echoic.engines.faster_whisper import DeviceConfig
from echoic.engines.models import CATALOG, MANIFEST
from echoic.engines.registry import EnginePool
from echoic.errors import ModelNotFoundError
from echoic.settings import Settings

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
        self, settings: Settings, engines: EnginePool | Mapping[str, Engine] | None = None
    ) -> None:
        self._settings = settings
        self.owns_engines = engines is None
        if engines is None:
            engines = EnginePool(
                settings.models_dir,
                DeviceConfig(
                    device=settings.device,
                    compute_type=settings.compute_type,
                    cpu_threads=settings.cpu_threads,
                ),
            )
        self._pool: EnginePool | None = None
        self._fixed: dict[str, Engine] = {}
        if isinstance(engines, EnginePool):
            self._pool = engines
        else:
            self._fixed = dict(engines)

    @property
    def default(self) -> str:
        return self._settings.model

    @property
    def names(self) -> list[str]:
        """Every name a request may use (besides ``whisper-1``)."""
        if self._pool is None:
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

    def engine_sync(self, requested: str | None) -> Engine:
        """The engine for a request's model, loading it on first use (blocking: call it from a
        thread when the model may not be loaded yet)."""
        name = self.name_for(requested)
        if self._pool is None:
            if name not in self._fixed:  # the default of a mapping that lacks it
                raise ModelNotFoundError(f"The model {name!r} does not exist on this server")
            return self._fixed[name]
        return self._pool.get(name)

    async def engine(self, requested: str | None) -> Engine:
        name = self.name_for(requested)
        if self._pool is None or name in self._pool.loaded:
            return self.engine_sync(name)
        return await asyncio.to_thread(self.engine_sync, name)

    @property
    def loaded(self) -> list[str]:
        return self._pool.loaded if self._pool is not None else sorted(self._fixed)

    def describe(self) -> list[ModelInfo]:
        """Every model a request may name, and ``whisper-1``, in OpenAI's list order (by id)."""
        loaded = set(self.loaded)
        infos: list[ModelInfo] = []
        for name in self.names:
            spec = CATALOG.get(name) if self._pool is not None else None
            manifest = self._settings.models_dir / name / MANIFEST
            installed = self._pool is None or (spec is None or manifest.is_file())
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
        if self.owns_engines and self._pool is not None:
            await self._pool.aclose()


def _created(manifest: Path) -> int:
    """When the model was installed: OpenAI's ``created`` (a Unix time) for a local model."""
    try:
        return int(manifest.stat().st_mtime)
    except OSError:
        return 0
