"""Batch diarization of one audio: speech regions (Silero VAD, the model inside faster-whisper),
speaker embeddings on 1.6 s windows every 1.2 s inside them, clustering, and turns.

The work needs only the audio, so a server runs it beside the transcription and puts the two
together afterwards (:func:`echoic.diarize.labels.label_transcript`). Cost: about a second of two
cores per four minutes of speech for the embeddings (onnxruntime), plus the VAD.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

from echoic.diarize.cluster import DEFAULT_THRESHOLD, cluster_embeddings
from echoic.diarize.encoder import (
    HOP,
    WINDOW_FRAMES,
    Floats,
    SpeakerEncoder,
    mel_frames,
    normalize_volume,
)
from echoic.diarize.segmentation import Span, plan_windows, turns_from_windows
from echoic.diarize.types import SpeakerCount, SpeakerTurns
from echoic.diarize.weights import resolve_voice_encoder
from echoic.types import Audio


@dataclass(frozen=True, kw_only=True)
class DiarizerConfig:
    #: Cosine distance that separates voices (cluster.DEFAULT_THRESHOLD explains the choice).
    threshold: float = DEFAULT_THRESHOLD
    #: Embedding windows: the encoder's training length, every 1.2 s. On the tune
    #: conversations every hop from 0.8 to 1.6 s gives the same DER (6.3-6.4 %) and the cost
    #: falls with the hop; the telephone sample's turns of 0.4-1 s need windows denser than
    #: end to end (told 2 speakers: 5.4 % at 0.8 s, 3.5 % at 1.2 s, 13.8 % at 1.6 s).
    window_frames: int = WINDOW_FRAMES
    hop_frames: int = 120
    #: Shorter regions are not embedded; they take the label of the nearest window in time.
    min_window_frames: int = 40
    #: A speaker change inside a region needs at least this much speech on each side.
    min_turn_frames: int = 50
    #: VAD: speech regions split at pauses this long (speakers take turns after short gaps).
    min_silence_ms: int = 150
    speech_pad_ms: int = 30
    min_speech_ms: int = 100
    threads: int = 1
    increase_only: bool = False


class Diarizer:
    """Who spoke when. Thread-safe: one instance serves every request."""

    def __init__(self, encoder: SpeakerEncoder, config: DiarizerConfig | None = None) -> None:
        self._encoder = encoder
        self.config = config or DiarizerConfig()

    def speech_regions(self, audio: Audio) -> list[Span]:
        """Speech as frame spans, from the same Silero model the transcription's VAD uses."""
        cfg = self.config
        found = get_speech_timestamps(
            audio,
            VadOptions(
                min_silence_duration_ms=cfg.min_silence_ms,
                speech_pad_ms=cfg.speech_pad_ms,
                min_speech_duration_ms=cfg.min_speech_ms,
            ),
        )
        spans = [Span(int(r["start"]) // HOP, -(-int(r["end"]) // HOP)) for r in found]
        return [s for s in spans if len(s) > 0]

    def turns(self, audio: Audio, count: SpeakerCount | None = None) -> SpeakerTurns:
        cfg = self.config
        regions = self.speech_regions(audio)
        windows = plan_windows(
            regions, length=cfg.window_frames, hop=cfg.hop_frames, min_length=cfg.min_window_frames
        )
        if not windows:
            return SpeakerTurns()
        frames = mel_frames(_speech_only(audio, regions))
        embeddings = self._encoder.embed(
            [frames[w.start : w.end] * _gain(audio, w, cfg.increase_only) for _, w in windows]
        )
        labels = cluster_embeddings(embeddings, count or SpeakerCount(), threshold=cfg.threshold)
        return turns_from_windows(regions, windows, labels, min_turn=cfg.min_turn_frames)

    def embed_speech(self, audio: Audio) -> Floats | None:
        """One voice embedding for an utterance of one speaker (a live stream's, already cut
        at its pauses): the mean of its windows' unit embeddings, each window levelled as in
        :meth:`turns`. The mean is not renormalized: ``1 - a @ b`` of two such means is the mean
        cosine distance between the two utterances' windows, the average linkage that
        :data:`~echoic.diarize.cluster.DEFAULT_THRESHOLD` was fitted for
        (:mod:`echoic.diarize.online`). ``None`` when the audio is too short to embed
        (``min_window_frames``) or silent. About 20–60 ms on one thread for a few seconds."""
        cfg = self.config
        windows = plan_windows(
            [Span(0, len(audio) // HOP)],
            length=cfg.window_frames,
            hop=cfg.hop_frames,
            min_length=cfg.min_window_frames,
        )
        if not windows:
            return None
        frames = mel_frames(audio)
        embeddings = self._encoder.embed(
            [frames[w.start : w.end] * _gain(audio, w, cfg.increase_only) for _, w in windows]
        )
        mean: Floats = embeddings.mean(axis=0, dtype=np.float32)
        return mean if float(np.linalg.norm(mean)) > 0.0 else None


def _gain(audio: Audio, window: Span, increase_only: bool) -> np.float32:
    """The factor on a window's mel power that brings its speech to ``TARGET_DBFS`` RMS, as
    Resemblyzer's training data was (the input is power, not log power: level matters)."""
    samples = audio[window.start * HOP : window.end * HOP]
    level = normalize_volume(samples, increase_only=increase_only)
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0
    if rms <= 0.0:
        return np.float32(1.0)
    return np.float32(float(np.sqrt(np.mean(np.square(level, dtype=np.float64)))) / rms) ** 2


def _speech_only(audio: Audio, regions: list[Span]) -> Audio:
    """``audio`` with everything outside the regions silenced, so that the volume is set by the
    speech and no window hears the noise around it as part of a voice."""
    kept = np.zeros_like(audio)
    for r in regions:
        lo, hi = r.start * HOP, min(len(audio), r.end * HOP)
        kept[lo:hi] = audio[lo:hi]
    return kept


def load_diarizer(models_dir: Path, *, config: DiarizerConfig | None = None) -> Diarizer:
    """The diarizer with the installed speaker encoder (:class:`ModelNotInstalledError` naming
    ``echoic models install voice-encoder`` when it is missing)."""
    config = config or DiarizerConfig()
    return Diarizer(
        SpeakerEncoder(resolve_voice_encoder(models_dir), threads=config.threads), config
    )
