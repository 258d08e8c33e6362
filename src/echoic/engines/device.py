"""Where a local model runs (DESIGN.md §10): the device, compute type, CTranslate2 threads per
call and parallel calls asked for, and what ``auto``/``default``/``0`` resolve to on this machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class DeviceConfig:
    device: str = "auto"  # auto | cpu | cuda
    compute_type: str = "default"  # default: int8 on CPU, float16 on CUDA
    #: CTranslate2 threads inside one call. 0: one on CPU, where a second thread per call made
    #: decodes slower on the 2-core machine (DESIGN.md §10): parallel calls use the cores better.
    cpu_threads: int = 0
    #: Calls one loaded model runs at once (weights shared). 0: CPU cores // cpu_threads on CPU,
    #: one on CUDA.
    workers: int = 0


@dataclass(frozen=True)
class ResolvedDevice:
    device: str
    compute_type: str
    cpu_threads: int
    workers: int


def resolve_device(config: DeviceConfig) -> ResolvedDevice:
    """Turn ``auto``/``default``/``0`` into the concrete device, compute type, threads per call
    and parallel calls."""
    device = config.device
    if device == "auto":
        import ctranslate2

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    compute_type = config.compute_type
    if compute_type == "default":
        compute_type = "float16" if device == "cuda" else "int8"
    cores = os.cpu_count() or 1
    if device == "cuda":
        threads = config.cpu_threads or cores
        return ResolvedDevice(device, compute_type, threads, config.workers or 1)
    threads = config.cpu_threads or 1
    workers = config.workers or max(1, cores // threads)
    return ResolvedDevice(device, compute_type, threads, workers)
