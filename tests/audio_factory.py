"""Real media files for tests, encoded with PyAV (no fixtures checked in, no ffmpeg binary).

``encode_audio(samples, sample_rate, path, fmt)`` writes ``samples`` (``(n,)`` mono or
``(n, channels)``, float in [-1, 1]) the way common tools would: MP3 through LAME with its
Xing/Info header, M4A with the index at the end (``movflags=faststart`` moves it to the front),
Opus at 48 kHz in Ogg and WebM.
"""

from __future__ import annotations

import struct
import wave
from pathlib import Path
from typing import Literal

import av
import numpy as np
import numpy.typing as npt

AudioFormat = Literal["wav", "flac", "mp3", "ogg", "m4a", "webm"]
FORMATS: tuple[AudioFormat, ...] = ("wav", "flac", "mp3", "ogg", "m4a", "webm")
LOSSLESS: tuple[AudioFormat, ...] = ("wav", "flac")

# fmt → (FFmpeg muxer, encoder, the encoder's sample rate when it insists on one)
_ENCODINGS: dict[AudioFormat, tuple[str, str, int | None]] = {
    "wav": ("wav", "pcm_s16le", None),
    "flac": ("flac", "flac", None),
    "mp3": ("mp3", "libmp3lame", None),
    "ogg": ("ogg", "libopus", 48_000),
    "m4a": ("ipod", "aac", None),
    "webm": ("webm", "libopus", 48_000),
}

Samples = npt.NDArray[np.float32]


def encode_audio(
    samples: npt.ArrayLike,
    sample_rate: int,
    path: Path,
    fmt: AudioFormat,
    *,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode ``samples`` into a ``fmt`` file at ``path``; ``options`` go to the muxer."""
    planar = _planar(samples)
    layout = "mono" if planar.shape[0] == 1 else "stereo"
    muxer, codec, codec_rate = _ENCODINGS[fmt]
    with av.open(str(path), mode="w", format=muxer, options=options or {}) as container:
        stream = container.add_stream(codec, rate=codec_rate or sample_rate, layout=layout)
        assert isinstance(stream, av.AudioStream)
        frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout=layout)
        frame.sample_rate = sample_rate
        for packet in stream.encode(frame):  # PyAV resamples and re-frames for the encoder
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _planar(samples: npt.ArrayLike) -> Samples:
    array = np.asarray(samples, dtype=np.float32)
    if array.ndim == 1:
        array = array[:, np.newaxis]
    if array.ndim != 2 or array.shape[1] not in (1, 2):
        raise ValueError(f"expected (n,) or (n, 1|2) samples, got shape {array.shape}")
    return np.ascontiguousarray(array.T)


def tone(
    freq_hz: float,
    duration_s: float,
    sample_rate: int,
    *,
    channels: int = 1,
    amplitude: float = 0.5,
) -> Samples:
    """A sine wave, ``(n,)`` for mono or ``(n, channels)`` with the same wave in every channel."""
    t = np.arange(round(duration_s * sample_rate)) / sample_rate
    wave_ = (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
    return wave_ if channels == 1 else np.repeat(wave_[:, np.newaxis], channels, axis=1)


def read_wav(path: Path) -> tuple[Samples, int]:
    """A 16-bit PCM WAV read with the standard library: a reference independent of PyAV."""
    with wave.open(str(path), "rb") as reader:
        if reader.getsampwidth() != 2:
            raise ValueError(f"{path} is not 16-bit PCM")
        data = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
        samples = data.reshape(-1, reader.getnchannels()).mean(axis=1) / 32768
        return samples.astype(np.float32), reader.getframerate()


def wav_bytes(data: bytes, *, sample_rate: int = 16_000, format_tag: int = 1) -> bytes:
    """A mono 16-bit WAV around ``data``; an unknown ``format_tag`` makes a codec no one has."""
    fmt = struct.pack("<HHIIHH", format_tag, 1, sample_rate, 2 * sample_rate, 2, 16)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data))
    body = b"WAVE" + chunks + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def video_only(path: Path, *, frames: int = 10) -> Path:
    """An MP4 with one silent-film video stream and no audio."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        black = np.zeros((64, 64, 3), dtype=np.uint8)
        for _ in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(black, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def with_long_video(samples: npt.ArrayLike, sample_rate: int, path: Path, *, video_s: int) -> Path:
    """A Matroska file with the audio as FLAC and a tiny video that runs ``video_s`` seconds."""
    planar = _planar(samples)
    with av.open(str(path), mode="w", format="matroska") as container:
        audio = container.add_stream("flac", rate=sample_rate, layout="mono")
        video = container.add_stream("mpeg4", rate=1)
        assert isinstance(audio, av.AudioStream)
        assert isinstance(video, av.VideoStream)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        frame = av.AudioFrame.from_ndarray(planar[:1], format="fltp", layout="mono")
        frame.sample_rate, frame.pts = sample_rate, 0  # Matroska needs timestamps to interleave
        packets = [*audio.encode(frame), *audio.encode(None)]
        black = np.zeros((64, 64, 3), dtype=np.uint8)
        for second in range(video_s):
            picture = av.VideoFrame.from_ndarray(black, format="rgb24")
            picture.pts = second
            packets += video.encode(picture)
        packets += video.encode(None)
        for packet in packets:
            container.mux(packet)
    return path


def truncated(path: Path, *, keep: float = 0.5) -> Path:
    """A copy of ``path`` cut after ``keep`` of its bytes, as an interrupted upload leaves it."""
    data = path.read_bytes()
    cut = path.with_name(f"cut-{path.name}")
    cut.write_bytes(data[: int(len(data) * keep)])
    return cut
