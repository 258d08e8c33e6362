"""Whisper's log-Mel front end as constants for a graph: STFT kernels and Mel filters.

Computed here rather than copied, so the encoder graph holds the whole front end and Python and
the browser feed it the same raw samples. The filters are Slaney-style (librosa's default,
which Whisper's ``mel_filters.npz`` was made with): Slaney's Mel scale, triangles normalised to
unit area.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms windows
HOP = 160  # 10 ms hop: 100 frames per second
N_MELS = 80
N_BINS = N_FFT // 2 + 1  # 201


def stft_kernels() -> npt.NDArray[np.float32]:
    """``[2·201, 1, 400]`` Conv1d kernels: the periodic-Hann-windowed cosines, then sines."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
    phase = 2 * np.pi * np.outer(np.arange(N_BINS), np.arange(N_FFT)) / N_FFT
    kernels = np.concatenate([np.cos(phase) * window, -np.sin(phase) * window])
    return kernels[:, None, :].astype(np.float32)


def _hz_to_mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    # Slaney: linear below 1 kHz (200/3 Hz per Mel), logarithmic above.
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    logstep = np.log(6.4) / 27.0
    mels = hz / f_sp
    above = hz >= min_log_hz
    mels[above] = min_log_hz / f_sp + np.log(hz[above] / min_log_hz) / logstep
    return mels


def _mel_to_hz(mels: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    hz = mels * f_sp
    above = mels >= min_log_mel
    hz[above] = min_log_hz * np.exp(logstep * (mels[above] - min_log_mel))
    return hz


def mel_filters() -> npt.NDArray[np.float32]:
    """``[80, 201]``: librosa ``filters.mel(sr=16000, n_fft=400, n_mels=80)``."""
    fft_hz = np.linspace(0, SAMPLE_RATE / 2, N_BINS)
    edges = np.array([0.0, SAMPLE_RATE / 2])
    mel_edges = _hz_to_mel(edges)
    points = _mel_to_hz(np.linspace(mel_edges[0], mel_edges[1], N_MELS + 2))
    spacing = np.diff(points)
    ramps = points[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / spacing[:-1, None]
    upper = ramps[2:] / spacing[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (points[2:] - points[:-2]))[:, None]
    return weights.astype(np.float32)


def speech_frames(audio: npt.NDArray[np.float32]) -> int:
    """Frames that hold speech: up to the last non-zero sample's, plus one (faster-whisper
    pads 160 zero samples before framing); the zeros after it are the caller's padding."""
    voiced = np.flatnonzero(audio)
    end = int(voiced[-1]) + 1 if len(voiced) else 0
    return end // HOP + 1


def log_mel(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The numpy reference of the graph's front end (tests compare the two): ``[80, S/160]``
    features of ``S`` samples, 0 after the speech frames."""
    padded = np.pad(audio.astype(np.float64), N_FFT // 2, mode="reflect")
    n_frames = 1 + (len(padded) - N_FFT) // HOP
    frames = np.stack([padded[i * HOP : i * HOP + N_FFT] for i in range(n_frames)], axis=1)
    kernels = stft_kernels()[:, 0, :].astype(np.float64)
    spectrum = kernels @ frames
    power = spectrum[:N_BINS] ** 2 + spectrum[N_BINS:] ** 2
    mel = mel_filters().astype(np.float64) @ power[:, :-1]
    logs = np.log10(np.maximum(mel, 1e-10))
    speech = min(speech_frames(audio), logs.shape[1])
    logs = np.maximum(logs, logs[:, :speech].max() - 8.0)
    normalised: npt.NDArray[np.float32] = ((logs + 4.0) / 4.0).astype(np.float32)
    normalised[:, speech:] = 0.0
    return normalised
