"""One typed settings object, read from ``ECHOIC_*`` environment variables (``__`` nests).

Only the CLI and the app factory read settings; everything else receives the values it needs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_models_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "echoic" / "models"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ECHOIC_", env_nested_delimiter="__")

    models_dir: Path = Field(default_factory=default_models_dir)
    model: str = "tiny.en"
    #: Dual-model live streams: this model confirms what ``model`` drafts (``None``: single).
    confirm_model: str | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    #: ``default``: int8 on CPU, float16 on CUDA.
    compute_type: str = "default"
    #: CTranslate2 threads per model; 0 means one per CPU core.
    cpu_threads: int = Field(default=0, ge=0)
    beam_size: int = Field(default=5, ge=1, le=10)
    vad_filter: bool = True
    batch_size: int = Field(default=8, ge=1, le=64)
    batched_threshold_s: float = Field(default=60.0, ge=0)
    max_duration_s: float = Field(default=7200.0, gt=0)
    max_upload_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
