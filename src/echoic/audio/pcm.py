"""Pure conversions for raw PCM streams: bytes → float32, any rate and channel count → 16 kHz mono.

Raw PCM carries no channel layout, so channels are averaged (file decoding instead uses FFmpeg's
layout-aware downmix, as Whisper's own loader does). Resampling uses FFmpeg's ``swresample``
through ``av.AudioResampler``, whose filter state carries over between calls: feeding a stream in
any chunk sizes gives exactly the samples one big chunk would, with no clicks at the joins.
"""

from __future__ import annotations

import av
import numpy as np
import numpy.typing as npt

from echoic.errors import AudioError, UnsupportedAudioError
from echoic.types import SAMPLE_RATE, Audio, AudioEncoding

_SAMPLE_BYTES: dict[str, int] = {"pcm_s16le": 2, "pcm_f32le": 4}
_S16_SCALE = 1.0 / 32768  # int16 full scale; a power of two, so the conversion is exact
_MAX_RATE = 768_000
_MAX_CHANNELS = 64


def pcm_to_float32(data: bytes | bytearray | memoryview, encoding: AudioEncoding) -> Audio:
    """Little-endian PCM bytes as float32 samples in [-1, 1], still interleaved.

    ``pcm_f32le`` input is rejected with :class:`AudioError` if it holds NaN or infinity (a
    broken client, not audio: passing it on would poison the model's features); finite values
    outside [-1, 1] are clipped, as an int16 conversion would.
    """
    width = _SAMPLE_BYTES.get(encoding)
    if width is None:
        raise UnsupportedAudioError(
            f"unknown PCM encoding {encoding!r}; use one of {', '.join(_SAMPLE_BYTES)}"
        )
    size = memoryview(data).nbytes
    if size % width:
        raise AudioError(f"{encoding} data must be whole {width}-byte samples, got {size} bytes")
    if encoding == "pcm_s16le":
        samples = np.frombuffer(data, dtype="<i2").astype(np.float32)
        samples *= _S16_SCALE
        return samples
    samples = np.frombuffer(data, dtype="<f4").astype(np.float32)
    if not np.isfinite(samples).all():
        raise AudioError(f"{encoding} data contains NaN or infinite samples")
    np.clip(samples, -1.0, 1.0, out=samples)
    return samples


def float32_to_wav(samples: Audio, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Mono float32 samples as a 16-bit PCM WAV file (what any transcription API accepts).

    Samples are clipped to [-1, 1] and rounded to the nearest int16.
    """
    pcm = np.clip(np.rint(np.asarray(samples, dtype=np.float32) * 32767), -32768, 32767)
    data = pcm.astype("<i2").tobytes()
    byte_rate = sample_rate * 2
    header = b"".join(
        (
            b"RIFF",
            (36 + len(data)).to_bytes(4, "little"),
            b"WAVEfmt ",
            (16).to_bytes(4, "little"),  # fmt chunk size
            (1).to_bytes(2, "little"),  # PCM
            (1).to_bytes(2, "little"),  # mono
            sample_rate.to_bytes(4, "little"),
            byte_rate.to_bytes(4, "little"),
            (2).to_bytes(2, "little"),  # block align: one 16-bit sample
            (16).to_bytes(2, "little"),  # bits per sample
            b"data",
            len(data).to_bytes(4, "little"),
        )
    )
    return header + data


class Resampler:
    """Turns one stream of interleaved float32 samples into 16 kHz mono, chunk by chunk.

    ``process`` takes 1-D interleaved samples (or a ``(frames, channels)`` array) of any length;
    a partial multi-channel frame at the end of a chunk waits for the next. ``flush`` returns
    what the filter still holds and starts afresh, so one instance can serve several utterances.
    16 kHz mono input is copied through untouched.
    """

    def __init__(self, in_rate: int, channels: int = 1) -> None:
        if not 0 < in_rate <= _MAX_RATE:
            raise UnsupportedAudioError(f"sample rate must be 1-{_MAX_RATE} Hz, got {in_rate}")
        if not 0 < channels <= _MAX_CHANNELS:
            raise UnsupportedAudioError(f"channels must be 1-{_MAX_CHANNELS}, got {channels}")
        self.in_rate = in_rate
        self.channels = channels
        self._pending = np.zeros(0, dtype=np.float32)  # the start of an incomplete frame
        self._resampler: av.AudioResampler | None = None

    def process(self, samples: npt.ArrayLike) -> Audio:
        mono = self._downmix(self._interleaved(samples))
        if self.in_rate == SAMPLE_RATE:
            return mono
        if mono.size == 0:
            return mono
        frame = av.AudioFrame.from_ndarray(mono.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = self.in_rate
        if self._resampler is None:
            self._resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        return _joined(self._resampler.resample(frame))

    def flush(self) -> Audio:
        """The samples still held back; the next ``process`` call starts a new stream."""
        self._pending = np.zeros(0, dtype=np.float32)  # less than one frame: nothing to keep
        resampler, self._resampler = self._resampler, None
        if resampler is None:
            return np.zeros(0, dtype=np.float32)
        return _joined(resampler.resample(None))

    def _interleaved(self, samples: npt.ArrayLike) -> Audio:
        array = np.asarray(samples, dtype=np.float32)
        if array.ndim == 2 and array.shape[1] == self.channels:
            return array.reshape(-1)
        if array.ndim != 1:
            raise AudioError(
                f"expected 1-D interleaved samples or (frames, {self.channels}), "
                f"got shape {array.shape}"
            )
        return array

    def _downmix(self, interleaved: Audio) -> Audio:
        if self.channels == 1:
            return np.array(interleaved, dtype=np.float32)  # a copy: callers may reuse buffers
        if self._pending.size:
            interleaved = np.concatenate([self._pending, interleaved])
        whole = interleaved.size - interleaved.size % self.channels
        self._pending = interleaved[whole:].copy()
        frames = interleaved[:whole].reshape(-1, self.channels)
        mono: Audio = frames.mean(axis=1, dtype=np.float32)
        return mono


def _joined(frames: list[av.AudioFrame]) -> Audio:
    if not frames:
        return np.zeros(0, dtype=np.float32)
    out: Audio = np.concatenate([f.to_ndarray().reshape(-1) for f in frames], dtype=np.float32)
    np.clip(out, -1.0, 1.0, out=out)  # the filter's ringing can overshoot full scale slightly
    return out
