"""The speaker encoder: Resemblyzer's trained voice encoder (GE2E, Wan et al. 2018), in numpy.

The network is three LSTM layers (40 → 256 → 256 → 256) over 40-channel mel power spectrogram
frames (25 ms windows every 10 ms), then a linear layer, a ReLU and L2 normalization: the final
hidden state of a window of speech becomes a 256-dimensional unit vector, close (by cosine) for
windows of the same voice. It was trained on 1.6 s windows; shorter ones work, less reliably.

The weights are converted at install time from the ``pretrained.pt`` inside the ``Resemblyzer``
wheel into an ONNX graph (:mod:`echoic.diarize.weights`) that :class:`SpeakerEncoder` runs with
onnxruntime (already installed for faster-whisper's VAD), about four times faster than numpy.
:class:`ReferenceEncoder` is the same network written out in numpy from PyTorch's parameters:
installation checks the converted graph against it. The features match
``librosa.feature.melspectrogram`` with Resemblyzer's settings (centred frames, zero padding, a
periodic Hann window, Slaney mel filters), so the embeddings are Resemblyzer's up to float
rounding (measured: at most 6.4e-7 apart on dev speech, cosine ≥ 0.9999999).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from faster_whisper.feature_extractor import FeatureExtractor

from echoic.types import SAMPLE_RATE, Audio

N_FFT = 400  # 25 ms
HOP = 160  # 10 ms: one frame
N_MELS = 40
#: The window length the encoder was trained on (frames).
WINDOW_FRAMES = 160
EMBEDDING_DIM = 256
#: Resemblyzer raises quiet audio to this level (never lowers loud audio) before embedding.
TARGET_DBFS = -30.0

Floats = npt.NDArray[np.float32]

LAYERS = 3
#: The arrays the encoder needs, by PyTorch's parameter names.
PARAMETERS = (
    *(
        f"lstm.{kind}_l{layer}"
        for layer in range(LAYERS)
        for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    ),
    "linear.weight",
    "linear.bias",
)


def normalize_volume(
    audio: Audio, target_dbfs: float = TARGET_DBFS, *, increase_only: bool = True
) -> Audio:
    """Bring ``audio`` to ``target_dbfs`` RMS; by default only raise it (Resemblyzer's
    preprocessing)."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    if rms <= 0.0:
        return audio
    gain_db = target_dbfs - 20.0 * np.log10(rms)
    if gain_db <= 0.0 and increase_only:
        return audio
    return (audio * np.float32(10.0 ** (gain_db / 20.0))).astype(np.float32)


_MEL_FILTERS = FeatureExtractor.get_mel_filters(SAMPLE_RATE, N_FFT, n_mels=N_MELS).astype(
    np.float32
)
_WINDOW = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)


def mel_frames(audio: Audio) -> Floats:
    """Mel power spectrogram, ``(1 + len(audio) // HOP, N_MELS)``: frame ``i`` is centred on
    sample ``i * HOP``."""
    padded = np.pad(audio.astype(np.float32, copy=False), N_FFT // 2)
    n_frames = 1 + (len(padded) - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(
        padded,
        shape=(n_frames, N_FFT),
        strides=(padded.strides[0] * HOP, padded.strides[0]),
        writeable=False,
    )
    spectrum = np.fft.rfft(frames * _WINDOW, axis=1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    return np.ascontiguousarray(power @ _MEL_FILTERS.T)


def _sigmoid(x: Floats) -> Floats:
    # The tanh form of the logistic function cannot overflow, unlike 1 / (1 + exp(-x)).
    out: Floats = np.float32(0.5) * (np.float32(1.0) + np.tanh(np.float32(0.5) * x))
    return out


@dataclass(frozen=True)
class _Layer:
    w_ih: Floats  # (4H, in), transposed for x @ w
    w_hh: Floats  # (4H, H), transposed likewise
    bias: Floats  # (4H,): both biases summed


def _batch(windows: Sequence[Floats]) -> tuple[Floats, npt.NDArray[np.int32]]:
    """Windows zero-padded into ``(n, longest, N_MELS)`` and their lengths."""
    lengths = np.array([len(w) for w in windows], np.int32)
    if lengths.min() < 1:
        raise ValueError("a window needs at least one frame")
    batch = np.zeros((len(windows), int(lengths.max()), N_MELS), np.float32)
    for i, window in enumerate(windows):
        batch[i, : len(window)] = window
    return batch, lengths


def _unit_rows(raw: Floats) -> Floats:
    norms = np.linalg.norm(raw, axis=1, keepdims=True)
    out: Floats = np.divide(raw, norms, out=np.zeros_like(raw), where=norms > 0)
    return out


class SpeakerEncoder:
    """Windows of mel frames → unit speaker embeddings, with the converted ONNX graph. One
    instance serves every thread (onnxruntime sessions are thread-safe)."""

    def __init__(self, model_path: Path, *, threads: int = 1) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )

    def embed(self, windows: Sequence[Floats]) -> Floats:
        """One embedding per window of mel frames (each ``(frames, N_MELS)``, any lengths ≥ 1),
        ``(len(windows), EMBEDDING_DIM)``, each row of unit length (zeros for a silent window)."""
        if not windows:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        batch, lengths = _batch(windows)
        (raw,) = self._session.run(
            None, {"frames": np.ascontiguousarray(batch.transpose(1, 0, 2)), "lengths": lengths}
        )
        return _unit_rows(np.asarray(raw, np.float32))


class ReferenceEncoder:
    """The encoder in numpy from PyTorch's parameter arrays: the yardstick for the conversion."""

    def __init__(self, arrays: Mapping[str, npt.NDArray[np.float32]]) -> None:
        missing = [name for name in PARAMETERS if name not in arrays]
        if missing:
            raise ValueError(f"speaker encoder weights lack {', '.join(missing)}")
        self._layers = tuple(
            _Layer(
                w_ih=np.ascontiguousarray(arrays[f"lstm.weight_ih_l{i}"].T, dtype=np.float32),
                w_hh=np.ascontiguousarray(arrays[f"lstm.weight_hh_l{i}"].T, dtype=np.float32),
                bias=(arrays[f"lstm.bias_ih_l{i}"] + arrays[f"lstm.bias_hh_l{i}"]).astype(
                    np.float32
                ),
            )
            for i in range(LAYERS)
        )
        self._linear_w = np.ascontiguousarray(arrays["linear.weight"].T, dtype=np.float32)
        self._linear_b = arrays["linear.bias"].astype(np.float32)

    def embed(self, windows: Sequence[Floats]) -> Floats:
        """One embedding per window of mel frames (each ``(frames, N_MELS)``, any lengths ≥ 1),
        ``(len(windows), EMBEDDING_DIM)``, each row of unit length (zeros for a silent window)."""
        if not windows:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        batch, lengths = _batch(windows)
        hidden = self._final_hidden(batch, lengths)
        return _unit_rows(np.maximum(hidden @ self._linear_w + self._linear_b, 0.0))

    def _final_hidden(self, batch: Floats, lengths: npt.NDArray[np.int32]) -> Floats:
        """The last layer's hidden state after each sequence's own last frame."""
        n, steps, _ = batch.shape
        seq = batch
        h = np.zeros((n, EMBEDDING_DIM), np.float32)
        for layer in self._layers:
            size = layer.w_hh.shape[0]
            # The input projection of every step at once; only the recurrence is sequential.
            projected = (seq.reshape(n * steps, -1) @ layer.w_ih + layer.bias).reshape(
                n, steps, 4 * size
            )
            h = np.zeros((n, size), np.float32)
            c = np.zeros((n, size), np.float32)
            outputs = np.empty((n, steps, size), np.float32)
            for t in range(steps):
                gates = projected[:, t] + h @ layer.w_hh
                i = _sigmoid(gates[:, :size])
                f = _sigmoid(gates[:, size : 2 * size])
                g = np.tanh(gates[:, 2 * size : 3 * size])
                o = _sigmoid(gates[:, 3 * size :])
                c_new = f * c + i * g
                h_new = o * np.tanh(c_new)
                alive = (t < lengths)[:, None]  # a finished sequence keeps its last state
                c = np.where(alive, c_new, c)
                h = np.where(alive, h_new, h)
                outputs[:, t] = h
            seq = outputs
        return h
