"""What a benchmark ran on: enough to tell two reports apart (EVAL.md: per model, compute type,
threads, beam size)."""

from __future__ import annotations

import os
import platform
import resource
import sys
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any


@dataclass(frozen=True, kw_only=True)
class MachineInfo:
    cpu_count: int
    cpu_model: str
    platform: str
    python: str
    ctranslate2: str
    faster_whisper: str
    model: str
    device: str
    compute_type: str
    cpu_threads: int
    beam_size: int
    load_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def machine_info(
    *, model: str, device: str, compute_type: str, cpu_threads: int, beam_size: int, load_s: float
) -> MachineInfo:
    return MachineInfo(
        cpu_count=os.cpu_count() or 1,
        cpu_model=cpu_model(),
        platform=platform.platform(),
        python=sys.version.split()[0],
        ctranslate2=_version("ctranslate2"),
        faster_whisper=_version("faster-whisper"),
        model=model,
        device=device,
        compute_type=compute_type,
        cpu_threads=cpu_threads,
        beam_size=beam_size,
        load_s=round(load_s, 3),
    )


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB (a high-water mark: never falls)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
