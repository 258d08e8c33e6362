"""One typed settings object, read from ``ECHOIC_*`` environment variables (``__`` nests).

Only the CLI and the app factory read settings; everything else receives the values it needs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from echoic.types import SttMode


def default_models_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "echoic" / "models"


def default_data_dir() -> Path:
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "echoic"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ECHOIC_", env_nested_delimiter="__")

    models_dir: Path = Field(default_factory=default_models_dir)
    model: str = "tiny.en"
    #: Dual-model live streams: this model confirms what ``model`` drafts (``None``: single;
    #: ``auto``: on CUDA the largest installed model worth it, ``echoic.streaming.modes``).
    confirm_model: str | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    #: ``default``: int8 on CPU, float16 on CUDA.
    compute_type: str = "default"
    #: CTranslate2 threads inside one call; 0: one on CPU (DESIGN.md §10).
    cpu_threads: int = Field(default=0, ge=0)
    #: Calls one loaded model runs at once; 0: CPU cores // threads per call.
    workers: int = Field(default=0, ge=0)
    #: Live drafts of several streams one batched forward pass runs at most (1: one by one, the
    #: default until a benchmark on a quiet machine shows batching pays on CPU; README).
    draft_batch: int = Field(default=1, ge=1, le=16)
    #: Live finals that may run over the compute slots, beside the drafts, confirmations and
    #: file chunks holding them (0: a final waits for a free slot; README "Single vs
    #: dual-model": 1 is what in-process dual-model streams use).
    final_headroom: int = Field(default=0, ge=0, le=4)
    #: Live finals of several streams one batched forward pass runs at most, split between
    #: the cores (1: one by one). Finals that end together (12 streams: P95 2.38 → 1.98 s)
    #: gain; finals that do not never wait for a batch (README "Concurrent live streams").
    final_batch: int = Field(default=6, ge=1, le=16)
    beam_size: int = Field(default=5, ge=1, le=10)
    vad_filter: bool = True
    batch_size: int = Field(default=8, ge=1, le=64)
    batched_threshold_s: float = Field(default=60.0, ge=0)
    max_duration_s: float = Field(default=7200.0, gt=0)
    max_upload_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    #: Speaker diarization on request (``diarization=true``); ``false`` refuses such requests.
    #: It needs the voice encoder (``echoic models install voice-encoder``).
    diarization_enabled: bool = True

    # -- server (echoic serve) ------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    #: Where echoic keeps its own data (the API key database); ``ECHOIC_DATA_DIR``.
    data_dir: Path = Field(default_factory=default_data_dir)
    #: ``auto``: API keys required unless bound to a loopback address. ``required`` forces them
    #: on loopback too; ``disabled`` turns them off anywhere (behind an authenticating proxy).
    auth: Literal["auto", "required", "disabled"] = "auto"
    #: Requests per API key (per client IP when auth is off), in the ``limits`` package's
    #: notation: ``"120/minute"``, ``"10/second;1000/hour"``. Empty: no rate limit.
    rate_limit: str = "120/minute"
    #: Live streams one API key may hold open at once (all anonymous clients share one count).
    max_streams_per_key: int = Field(default=16, ge=1)
    #: REST transcriptions admitted per model at once (running or queued for the model's thread).
    model_concurrency: int = Field(default=4, ge=1)
    #: How long a REST request over ``model_concurrency`` waits for a slot before a 503.
    model_queue_timeout_s: float = Field(default=30.0, ge=0)
    #: Live streams end after this long without audio or keepalive.
    stream_idle_timeout_s: float = Field(default=30.0, gt=0)
    #: The startup self-test (1 s of synthetic audio) should finish within this; a slower local
    #: engine starts demoted (circuit open) when there is a cloud tier to fall back to.
    self_test_max_s: float = Field(default=2.0, gt=0)
    #: In-flight requests get this long to finish on shutdown.
    shutdown_timeout_s: float = Field(default=30.0, ge=0)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"

    # -- routing: local first, cloud fallback (DESIGN.md §4) -------------------------------------
    #: ``auto``: the chain in order; ``force_local`` / ``force_cloud``: one side only.
    stt_mode: SttMode = SttMode.AUTO
    #: May a request choose its own ``stt_mode`` (within the providers this server has)?
    allow_mode_override: bool = True
    #: Kill switches: ``false`` takes the local engine / the cloud provider out entirely.
    local_enabled: bool = True
    cloud_enabled: bool = True
    #: The tiers in order: ``local`` (the configured device), ``local:cpu``, ``local:cuda``,
    #: ``cloud``.
    chain: str = "local,cloud"
    #: The remote OpenAI-compatible API root (``https://api.openai.com/v1``, another echoic's
    #: ``http://host:8000/v1``). Unset: no cloud tier.
    cloud_url: str | None = None
    cloud_api_key: SecretStr | None = None
    #: The model name the provider knows.
    cloud_model: str = "whisper-1"
    cloud_timeout_s: float = Field(default=60.0, gt=0)
    #: Per-call budget of a tier before the next one is tried: this plus
    #: ``route_timeout_per_audio_s`` for every second of audio. Each is seconds for every tier
    #: (``10``) or per tier (``local=2,cloud=30``; a bare number is the tiers not named:
    #: ``5,local=2``); :mod:`echoic.routing.budget` parses them.
    route_timeout_s: str = Field(default="10", coerce_numbers_to_str=True)
    route_timeout_per_audio_s: str = Field(default="0.5", coerce_numbers_to_str=True)
    #: Extra attempts on the same tier for transient failures (jittered exponential backoff).
    route_retries: int = Field(default=1, ge=0, le=10)
    #: Consecutive failures that open a provider's circuit, and how long it stays open.
    breaker_failures: int = Field(default=3, ge=1)
    breaker_cooldown_s: float = Field(default=60.0, ge=0)
    #: Live streams with ``client_transcripts``: how long after an utterance ends the server
    #: waits for the client's transcript before transcribing the audio itself.
    client_transcript_grace_s: float = Field(default=2.0, ge=0, le=60)
    #: The page transcribes in the browser (tiny.en on WebAssembly or WebGPU, DESIGN.md §4b)
    #: when the browser pack is installed; ``false`` keeps every page on server transcription.
    #: Other clients may still send their own transcripts (``client_transcripts``).
    browser_stt: bool = True
    #: The page's 1 s self-test must transcribe 1 s of audio within this, or the page sends
    #: its audio to the server for transcription instead.
    browser_self_test_max_s: float = Field(default=2.0, gt=0, le=60)

    # -- jobs and storage (DESIGN.md §6) -----------------------------------------------------------
    #: ``postgresql://user:pass@host/db`` to share jobs, transcripts and keys between machines;
    #: unset: a SQLite file under ``data_dir`` (``echoic.sqlite3``).
    database_url: str | None = None
    #: Job workers ``echoic serve`` runs in its own process; 0: only ``echoic worker``s work.
    workers_in_process: int = Field(default=1, ge=0, le=16)
    #: How long a worker's claim on a job lasts without a heartbeat (it renews every third).
    lease_s: float = Field(default=30.0, gt=0)
    #: Attempts of a job that fails with a retryable error before it is dead-lettered.
    job_max_attempts: int = Field(default=3, ge=1, le=100)
    #: Backoff before retry n: uniform in [0, min(max, base·2ⁿ⁻¹)] (full jitter).
    job_retry_base_s: float = Field(default=2.0, ge=0)
    job_retry_max_s: float = Field(default=300.0, ge=0)
    #: Where uploaded audio is kept: ``files`` under ``data_dir/media`` (every worker must see
    #: that directory), ``database`` (PostgreSQL: the database is all machines share), or
    #: ``auto``: the database on PostgreSQL, files on SQLite.
    media_store: Literal["auto", "files", "database"] = "auto"
    #: Keep uploaded audio ``forever``, delete it once transcribed (``0``), or after N days.
    retain_audio: str = Field(default="forever", pattern=r"^(forever|\d+(\.\d+)?)$")
    #: URL jobs may fetch from loopback, private and link-local addresses (tests, intranets).
    url_allow_private: bool = False
    #: The longest a URL download may take.
    url_fetch_timeout_s: float = Field(default=300.0, gt=0)
    #: Where per-key rate limits and stream caps are counted: ``memory://`` (this process) or a
    #: shared store in the ``limits`` package's notation (``redis://host:6379``), so several
    #: servers behind a load balancer count as one.
    rate_limit_storage: str = "memory://"
