"""Loading the model under test once, and recording what it was loaded with."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from echoic.bench.machine import peak_rss_mb
from echoic.engines.faster_whisper import DeviceConfig, FasterWhisperEngine, resolve_device
from echoic.engines.models import resolve_model


@dataclass(frozen=True, kw_only=True)
class LoadedEngine:
    """An engine plus the settings it runs with, which the engine keeps to itself."""

    engine: FasterWhisperEngine
    device: str
    compute_type: str
    cpu_threads: int
    load_s: float
    peak_rss_after_load_mb: float

    @property
    def model(self) -> str:
        return self.engine.model_name


def load_engine(model: str, models_dir: Path, device: DeviceConfig | None = None) -> LoadedEngine:
    """Resolve ``model`` (a catalog name or a CTranslate2 directory) and load it.

    Raises the usual model errors (:class:`~echoic.errors.ModelNotInstalledError` names the
    install command).
    """
    config = device or DeviceConfig()
    resolved = resolve_model(model, models_dir)
    started = time.perf_counter()
    engine = FasterWhisperEngine(resolved, config)
    load_s = time.perf_counter() - started
    dev = resolve_device(config)
    return LoadedEngine(
        engine=engine,
        device=dev.device,
        compute_type=dev.compute_type,
        cpu_threads=dev.cpu_threads,
        load_s=load_s,
        peak_rss_after_load_mb=peak_rss_mb(),
    )
