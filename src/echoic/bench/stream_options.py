"""What one ``echoic bench stream`` configuration runs (:mod:`echoic.bench.stream`): the models,
the pacing, the stream's settings and the decode overrides, validated when built."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from echoic.engines.faster_whisper import DeviceConfig
from echoic.streaming.config import StreamConfig
from echoic.streaming.scheduler import DEFAULT_MAX_BATCH, DUAL_FINAL_HEADROOM
from echoic.types import TranscribeOptions


@dataclass(frozen=True, kw_only=True)
class DecodeSettings:
    """Beam size and encoder input of one kind of live decode (drafts, or confirmations and
    finals). ``encoder_pad_s``: the encoder sees the window plus this much padding; ``None``:
    a full 30 s window, like stock faster-whisper."""

    beam_size: int
    encoder_pad_s: float | None

    def __post_init__(self) -> None:
        if self.beam_size < 1:
            raise ValueError(f"beam_size must be at least 1, got {self.beam_size}")
        if self.encoder_pad_s is not None and self.encoder_pad_s < 0:
            raise ValueError(f"encoder_pad_s must not be negative, got {self.encoder_pad_s}")

    @classmethod
    def of(cls, options: TranscribeOptions) -> DecodeSettings:
        return cls(beam_size=options.beam_size, encoder_pad_s=options.encoder_pad_s)

    def apply(self, options: TranscribeOptions) -> TranscribeOptions:
        return replace(options, beam_size=self.beam_size, encoder_pad_s=self.encoder_pad_s)

    @property
    def label(self) -> str:
        search = "greedy" if self.beam_size == 1 else f"beam {self.beam_size}"
        window = (
            "30 s window" if self.encoder_pad_s is None else f"window + {self.encoder_pad_s:g} s"
        )
        return f"{search}, {window}"


@dataclass(frozen=True, kw_only=True)
class StreamBenchOptions:
    #: Session WAV files, or directories whose ``*.wav`` with a ``.json`` sidecar are taken.
    sessions: tuple[Path, ...]
    models_dir: Path
    #: The drafting model (in single-model mode, the only one).
    model: str = "tiny.en"
    #: Dual-model (speculative) mode: the model that confirms and finalizes; ``None``: single.
    confirm_model: str | None = None
    #: Dual-model mode: confirm the open utterance this often (``None``: only at its end).
    confirm_interval_ms: int | None = 1000
    #: Pace chunks by the wall clock (EVAL.md); ``False``: as fast as the stream accepts them.
    realtime: bool = True
    chunk_ms: int = 20
    #: Feed every session this many times (latencies pool over all repeats).
    repeat: int = 1
    stream: StreamConfig = field(default_factory=StreamConfig)
    #: Overrides of ``stream.draft_options`` / ``stream.final_options`` (``None``: keep them).
    draft: DecodeSettings | None = None
    final: DecodeSettings | None = None
    #: The spoken language; ``None``: :func:`stream_language` decides (English-only models: en).
    language: str | None = None
    #: The batch path the streaming WER is compared with (its language: the stream's if unset).
    batch: TranscribeOptions = field(default_factory=TranscribeOptions)
    compare_batch: bool = True
    #: ``cpu_threads=0`` (one per core) becomes 1 in dual-model mode (DESIGN.md §10).
    device: DeviceConfig = field(default_factory=DeviceConfig)
    #: Drafts of several streams one batched call runs at most (1: one at a time).
    max_batch: int = DEFAULT_MAX_BATCH
    #: Dual-model mode: finals that may run over the compute slots beside drafts and
    #: confirmations (0: a final waits for a free slot, as before).
    final_headroom: int = DUAL_FINAL_HEADROOM
    #: Finals of several streams one batched call runs at most (1: one at a time).
    final_batch: int = 1

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.final_batch < 1:
            raise ValueError(
                f"max_batch and final_batch must be at least 1, got {self.max_batch}, "
                f"{self.final_batch}"
            )
        if self.chunk_ms <= 0:
            raise ValueError(f"chunk_ms must be positive, got {self.chunk_ms}")
        if self.repeat < 1:
            raise ValueError(f"repeat must be at least 1, got {self.repeat}")
        if self.confirm_interval_ms is not None and self.confirm_interval_ms <= 0:
            raise ValueError(
                f"confirm_interval_ms must be positive, got {self.confirm_interval_ms}"
            )

    @property
    def dual(self) -> bool:
        return self.confirm_model is not None

    @property
    def confirming_model(self) -> str:
        """The model whose decodes become the finals."""
        return self.confirm_model or self.model

    @property
    def label(self) -> str:
        return f"{self.model} → {self.confirm_model}" if self.dual else self.model

    def stream_config(self, language: str | None) -> StreamConfig:
        """``stream`` with the decode overrides, confirmations (dual-model mode) and language."""
        config = self.stream
        if self.draft is not None:
            config = replace(config, draft_options=self.draft.apply(config.draft_options))
        if self.final is not None:
            config = replace(config, final_options=self.final.apply(config.final_options))
        if self.dual:
            config = replace(config, confirm_interval_ms=self.confirm_interval_ms)
        return config.with_language(language)

    def batch_options(self, language: str | None) -> TranscribeOptions:
        if self.batch.language is not None:
            return self.batch
        return replace(self.batch, language=language)
