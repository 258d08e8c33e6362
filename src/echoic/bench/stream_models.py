"""The models of one ``echoic bench stream`` configuration, loaded (and closed) around its run,
and the scheduler set its streams share."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from echoic.bench.machine import MachineInfo, machine_info
from echoic.bench.stream_options import StreamBenchOptions
from echoic.engines.faster_whisper import FasterWhisperEngine, resolve_device
from echoic.engines.registry import EnginePool
from echoic.streaming.config import StreamConfig
from echoic.streaming.live import stream_language
from echoic.streaming.scheduler import DEFAULT_MAX_BATCH, DUAL_FINAL_HEADROOM
from echoic.streaming.schedulers import Schedulers


@dataclass(frozen=True, kw_only=True)
class LoadedModels:
    """The engines of one benchmark configuration and the language its streams decode in."""

    draft: FasterWhisperEngine
    confirm: FasterWhisperEngine
    language: str | None
    config: StreamConfig
    max_batch: int = DEFAULT_MAX_BATCH
    final_headroom: int = DUAL_FINAL_HEADROOM
    final_batch: int = 1

    def machine(self, options: StreamBenchOptions) -> MachineInfo:
        """The machine and engine settings a report of ``options`` was measured with."""
        device = resolve_device(options.device)
        load_s = self.draft.load_s + (self.confirm.load_s if self.confirm is not self.draft else 0)
        return machine_info(
            model=options.label,
            device=device.device,
            compute_type=device.compute_type,
            cpu_threads=device.cpu_threads,
            beam_size=self.config.final_options.beam_size,
            load_s=load_s,
        )

    def schedulers(self) -> Schedulers:
        """A fresh scheduler set, shared by every stream fed through it (as in the server)."""
        return Schedulers.of(
            self.draft,
            self.confirm,
            max_batch=self.max_batch,
            final_headroom=self.final_headroom,
            final_batch=self.final_batch,
        )


@contextmanager
def load_models(
    options: StreamBenchOptions, pool: EnginePool | None = None
) -> Iterator[LoadedModels]:
    """Load (or take from ``pool``) the models of ``options``; close what was loaded here.

    A model confirming itself is loaded once and shares one scheduler, as in the server (its
    confirmations and finals go before its drafts).
    """
    own: list[EnginePool] = []

    def new_pool() -> EnginePool:
        own.append(EnginePool(options.models_dir, options.device))
        return own[-1]

    try:
        engines = pool if pool is not None else new_pool()
        draft = engines.get(options.model)
        confirm = draft
        if options.confirm_model is not None:
            confirm = engines.get(options.confirm_model)
        language = stream_language(options.language, [draft, confirm])
        yield LoadedModels(
            draft=draft,
            confirm=confirm,
            language=language,
            config=options.stream_config(language),
            max_batch=options.max_batch,
            final_headroom=options.final_headroom,
            final_batch=options.final_batch,
        )
    finally:
        for engines in own:
            asyncio.run(engines.aclose())
