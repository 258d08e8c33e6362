"""Decode any audio or video file FFmpeg knows into 16 kHz mono float32, through PyAV.

Decoding is a generator chain, demux → decode → resample, collected once at the end::

    packets = container.demux(stream)
    frames = _decode(packets)    # skips (and counts) the odd undecodable packet
    frames = _limit(frames)      # raises as soon as the audio runs past max_duration_s
    chunks = _resample(frames)   # av.AudioResampler → 16 kHz mono float32 arrays

Every PyAV exception is translated here, and only here, into the :mod:`echoic.errors` tree.

FFmpeg's log output: PyAV (≥ 13) keeps FFmpeg's logging switched off unless someone calls
``av.logging.set_level``, so a damaged file prints nothing; this module leaves that process-wide
setting alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import av
import av.error
import numpy as np

from echoic.audio.headers import (
    HEAD_BYTES,
    TAIL_BYTES,
    flac_declared_s,
    has_vbr_header,
    id3v2_size,
    matroska_tag_s,
    ogg_tail_problem,
    sniff,
    wav_data,
)
from echoic.audio.source import AudioSource, MediaSource
from echoic.errors import (
    AudioError,
    AudioTooLongError,
    CorruptAudioError,
    EmptyAudioError,
    NotAudioError,
    UnsupportedAudioError,
)
from echoic.types import SAMPLE_RATE, Audio

# Decoded audio may fall short of the declared length by codec priming and padding; more than
# this is a cut or damaged file.
_TRUNCATION_SLACK_S = 0.5
_TRUNCATION_SLACK_FRACTION = 0.02
# Players skip the odd undecodable packet (a broken last frame is common in real recordings);
# more than this share of them is a damaged file.
_BAD_PACKET_FRACTION = 0.01

_MP4 = "mov,mp4,m4a,3gp,3g2,mj2"
_MATROSKA = "matroska,webm"


@dataclass(frozen=True, kw_only=True)
class AudioInfo:
    """What a file's headers say about its audio stream.

    ``duration_s`` is the length the container declares (WAV data size, FLAC STREAMINFO, MP3
    Xing/Info header, MP4 index, Matroska segment info) or measures exactly (Ogg's last page);
    ``None`` when FFmpeg could only estimate it from the bit rate, which is wrong for VBR files.
    """

    duration_s: float | None
    sample_rate: int
    channels: int
    codec: str
    container: str


def probe_audio(source: AudioSource) -> AudioInfo:
    """Open ``source`` and read its headers only, raising the same errors decoding would.

    Catches what can be known without decoding: not media, no audio stream, an unsupported
    codec, a WAV or Ogg file cut short. Used to validate uploads before any decoding work.
    """
    with _open(MediaSource.of(source)) as opened:
        return opened.info


def decode_audio(source: AudioSource, *, max_duration_s: float | None = None) -> Audio:
    """Decode ``source`` to 16 kHz mono float32 samples in [-1, 1].

    Raises :class:`AudioTooLongError` before decoding when the header declares more than
    ``max_duration_s``, and stops decoding as soon as the decoded audio passes it (headers may
    lie or be missing). A decoded length clearly short of the declared one, or more than a few
    undecodable packets, raise :class:`CorruptAudioError`.
    """
    if max_duration_s is not None and max_duration_s <= 0:
        raise ValueError(f"max_duration_s must be positive, got {max_duration_s}")
    media = MediaSource.of(source)
    with _open(media) as opened:
        known_s = opened.info.duration_s
        if max_duration_s is not None and known_s is not None and known_s > max_duration_s:
            raise AudioTooLongError(
                media.describe(
                    f"audio is {known_s:.1f} s long, over the {max_duration_s:g} s limit"
                )
            )
        tally = _Tally()
        packets = opened.container.demux(opened.stream)
        frames = _limit(_decode(packets, tally, media), max_duration_s, tally, media)
        chunks = list(_resample(frames, media))
    audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    _check_decoded(audio, tally, opened.declared_s, media)
    np.clip(audio, -1.0, 1.0, out=audio)  # downmixing may overshoot; Audio promises [-1, 1]
    return audio


@dataclass(frozen=True, kw_only=True)
class _Opened:
    container: av.container.InputContainer
    stream: av.AudioStream
    info: AudioInfo
    declared_s: float | None


@contextmanager
def _open(media: MediaSource) -> Iterator[_Opened]:
    if media.size == 0:
        raise EmptyAudioError(media.describe("file is empty (0 bytes)"))
    head = media.read_at(0, HEAD_BYTES)
    try:
        container = av.open(media.av_input, mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise _unopenable(media, head, exc) from exc
    with container:
        stream = _audio_stream(container, media)
        declared_s = _declared_s(container, stream, media, head)
        known_s = _check_headers(container, media, head, declared_s)
        info = AudioInfo(
            duration_s=known_s,
            sample_rate=stream.codec_context.sample_rate,
            channels=stream.codec_context.channels,
            codec=stream.codec_context.codec.canonical_name,
            container=container.format.name,
        )
        yield _Opened(container=container, stream=stream, info=info, declared_s=declared_s)


def _unopenable(media: MediaSource, head: bytes, exc: av.error.FFmpegError) -> AudioError:
    if isinstance(exc, OSError):
        return AudioError(media.describe(f"cannot read the file: {exc.strerror}"))
    kind = sniff(head)
    if kind is None:
        return NotAudioError(media.describe("not an audio file (no media format recognised)"))
    return CorruptAudioError(
        media.describe(f"looks like {kind} but cannot be read; it is damaged or truncated")
    )


def _audio_stream(container: av.container.InputContainer, media: MediaSource) -> av.AudioStream:
    audio = list(container.streams.audio)
    if not audio:
        found = ", ".join(sorted({s.type for s in container.streams})) or "none"
        raise UnsupportedAudioError(media.describe(f"contains no audio stream (streams: {found})"))
    for stream in audio:
        if stream.codec_context is not None:
            return stream
    raise UnsupportedAudioError(
        media.describe("its audio codec is not one this FFmpeg build can decode")
    )


def _declared_s(
    container: av.container.InputContainer, stream: av.AudioStream, media: MediaSource, head: bytes
) -> float | None:
    """The length the file's header promises, to hold decoding to; ``None`` if it promises none."""
    fmt = container.format.name
    if fmt == "wav":
        data = wav_data(head)
        return data.declared_s if data else None
    if fmt == "flac":
        return flac_declared_s(head)
    if fmt == "mp3":
        first_frame = media.read_at(id3v2_size(head), 2048)
        return _ffmpeg_duration_s(container, stream) if has_vbr_header(first_frame) else None
    if fmt in (_MP4, _MATROSKA, "ogg"):  # Ogg's is exact: the last page's granule position
        return _ffmpeg_duration_s(container, stream)
    return None


def _check_headers(
    container: av.container.InputContainer,
    media: MediaSource,
    head: bytes,
    declared_s: float | None,
) -> float | None:
    """Raise for the truncation headers alone reveal; return the length known before decoding."""
    fmt = container.format.name
    if fmt == "wav" and (data := wav_data(head)) is not None:
        present_s = data.present_s(media.size)
        _check_length(present_s, data.declared_s, media)
        return present_s
    if fmt == "ogg" and (problem := ogg_tail_problem(media.tail(TAIL_BYTES))) is not None:
        raise CorruptAudioError(media.describe(f"truncated: {problem}"))
    return declared_s


def _ffmpeg_duration_s(
    container: av.container.InputContainer, stream: av.AudioStream
) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if (tag := stream.metadata.get("DURATION")) and (tagged_s := matroska_tag_s(tag)):
        return tagged_s
    # The container's length is its longest stream's: in a screen recording the video may run
    # on after the audio ends, so it speaks for the audio only when there is nothing else.
    audio_only = len(container.streams) == len(container.streams.audio)
    if audio_only and container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    return None


def _check_length(decoded_s: float, declared_s: float | None, media: MediaSource) -> None:
    if declared_s is None:
        return
    slack_s = max(_TRUNCATION_SLACK_S, _TRUNCATION_SLACK_FRACTION * declared_s)
    if decoded_s < declared_s - slack_s:
        raise CorruptAudioError(
            media.describe(
                f"truncated or damaged: header says {declared_s:.1f} s,"
                f" only {decoded_s:.1f} s decodable"
            )
        )


@dataclass(kw_only=True)
class _Tally:
    packets: int = 0
    bad_packets: int = 0
    decoded_s: float = 0.0


def _decode(
    packets: Iterable[av.Packet[av.AudioStream]], tally: _Tally, media: MediaSource
) -> Iterator[av.AudioFrame]:
    iterator = iter(packets)
    while True:
        try:
            packet = next(iterator)
        except StopIteration:
            return
        except av.error.FFmpegError as exc:
            raise CorruptAudioError(
                media.describe(f"unreadable after {tally.decoded_s:.1f} s: {exc.strerror}")
            ) from exc
        tally.packets += 1
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            tally.bad_packets += 1
            continue
        yield from frames


def _limit(
    frames: Iterable[av.AudioFrame], limit_s: float | None, tally: _Tally, media: MediaSource
) -> Iterator[av.AudioFrame]:
    for frame in frames:
        tally.decoded_s += frame.samples / frame.sample_rate
        if limit_s is not None and tally.decoded_s > limit_s:
            raise AudioTooLongError(
                media.describe(
                    f"audio runs past the {limit_s:g} s limit"
                    f" (stopped decoding at {tally.decoded_s:.1f} s)"
                )
            )
        yield frame


def _resample(frames: Iterable[av.AudioFrame], media: MediaSource) -> Iterator[Audio]:
    """16 kHz mono float32 chunks; a new resampler whenever the input format changes.

    ``av.AudioResampler`` refuses frames unlike its first, and some streams do change mid-way
    (concatenated MP3s, HE-AAC switching its rate).
    """
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    setup: tuple[str, str, int] | None = None
    for frame in frames:
        frame_setup = (frame.format.name, frame.layout.name, frame.sample_rate)
        if setup is not None and frame_setup != setup:
            yield from _arrays(resampler.resample(None))
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        setup = frame_setup
        frame.pts = None  # timestamps may jump (concatenated streams); the samples are what count
        try:
            resampled = resampler.resample(frame)
        except (av.error.FFmpegError, ValueError) as exc:
            raise UnsupportedAudioError(
                media.describe(f"cannot convert {frame.layout.name} {frame.format.name} audio")
            ) from exc
        yield from _arrays(resampled)
    yield from _arrays(resampler.resample(None))


def _arrays(frames: list[av.AudioFrame]) -> Iterator[Audio]:
    for frame in frames:
        yield np.asarray(frame.to_ndarray(), dtype=np.float32).reshape(-1)


def _check_decoded(
    audio: Audio, tally: _Tally, declared_s: float | None, media: MediaSource
) -> None:
    _check_length(tally.decoded_s, declared_s, media)
    allowed = max(1.0, _BAD_PACKET_FRACTION * tally.packets)
    if tally.bad_packets > allowed or (tally.bad_packets and audio.size == 0):
        raise CorruptAudioError(
            media.describe(
                f"damaged: {tally.bad_packets} of {tally.packets} packets could not be decoded"
            )
        )
    if audio.size == 0:
        raise EmptyAudioError(media.describe("contains no audio samples"))
