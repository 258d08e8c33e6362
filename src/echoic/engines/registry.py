"""One loaded copy of each model, shared by every caller in the process."""

from __future__ import annotations

import threading
from pathlib import Path

from echoic.engines.faster_whisper import DeviceConfig, FasterWhisperEngine
from echoic.engines.models import resolve_model


class EnginePool:
    """Loads each model once, on first use, and hands the same engine to every caller.

    Resolution (and with it the model checksum check) happens before loading, so a missing or
    damaged model is reported with the command that fixes it.
    """

    def __init__(self, models_dir: Path, device: DeviceConfig | None = None) -> None:
        self._models_dir = models_dir
        self._device = device or DeviceConfig()
        self._engines: dict[str, FasterWhisperEngine] = {}
        self._lock = threading.Lock()

    def get(self, model: str) -> FasterWhisperEngine:
        with self._lock:
            engine = self._engines.get(model)
            if engine is None:
                resolved = resolve_model(model, self._models_dir)
                engine = FasterWhisperEngine(resolved, self._device)
                self._engines[model] = engine
            return engine

    @property
    def loaded(self) -> list[str]:
        with self._lock:
            return sorted(self._engines)

    async def aclose(self) -> None:
        with self._lock:
            engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            await engine.aclose()
