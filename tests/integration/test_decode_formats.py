"""decode_audio and probe_audio on real files, encoded with PyAV from a real speech clip."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from echoic.audio import AudioInfo, decode_audio, probe_audio
from echoic.errors import (
    AudioError,
    AudioTooLongError,
    CorruptAudioError,
    EmptyAudioError,
    NotAudioError,
    UnsupportedAudioError,
)
from echoic.types import SAMPLE_RATE
from tests.audio_factory import (
    FORMATS,
    LOSSLESS,
    AudioFormat,
    Samples,
    encode_audio,
    read_wav,
    tone,
    truncated,
    video_only,
    wav_bytes,
    with_long_video,
)

JFK = "eval/dev/audio/jfk-inaugural-1961.wav"
NO_XING = {"write_xing": "0"}  # MP3 without the Xing/Info header: no declared length
LIVE_WEBM = {"live": "1"}  # WebM as a browser's MediaRecorder writes it: no declared length
CODECS: dict[AudioFormat, str] = {
    "wav": "pcm_s16le",
    "flac": "flac",
    "mp3": "mp3",
    "ogg": "opus",
    "m4a": "aac",
    "webm": "opus",
}


@pytest.fixture(scope="module")
def speech(shared_dir: Path) -> Samples:
    samples, rate = read_wav(shared_dir / JFK)
    assert rate == SAMPLE_RATE
    return samples


@pytest.fixture(scope="module")
def encoded(speech: Samples, tmp_path_factory: pytest.TempPathFactory) -> dict[AudioFormat, Path]:
    """The speech clip in every format, encoded once for the module."""
    folder = tmp_path_factory.mktemp("speech")
    return {
        fmt: encode_audio(speech, SAMPLE_RATE, folder / f"speech.{fmt}", fmt) for fmt in FORMATS
    }


def aligned_correlation(a: Samples, b: Samples, *, max_lag: int) -> float:
    """Pearson correlation of ``a`` and ``b`` at the lag (up to ``max_lag``) that fits best.

    AAC's encoder priming shifts the decoded audio by 1024 samples when the muxer writes no
    edit list, as PyAV's M4A output does.
    """
    n = len(a) + len(b)
    xcorr = np.fft.irfft(np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n)), n)
    lags = np.r_[0 : max_lag + 1, -max_lag:0]
    lag = int(lags[np.argmax(xcorr[lags])])
    x, y = (a[lag:], b) if lag >= 0 else (a, b[-lag:])
    overlap = min(len(x), len(y))
    return float(np.corrcoef(x[:overlap], y[:overlap])[0, 1])


def peak_hz(samples: npt.NDArray[np.float32], rate: int = SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


# --- good input -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_decodes_to_16k_mono_float32(
    fmt: AudioFormat, speech: Samples, encoded: dict[AudioFormat, Path]
) -> None:
    audio = decode_audio(encoded[fmt])

    assert audio.dtype == np.float32
    assert audio.ndim == 1
    assert abs(len(audio) - len(speech)) / SAMPLE_RATE < 0.1  # codec priming may add a little
    assert np.abs(audio).max() <= 1.0
    if fmt in LOSSLESS:
        np.testing.assert_array_equal(audio, speech)
    else:
        assert aligned_correlation(audio, speech, max_lag=2048) > 0.99


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "ogg"])
def test_matches_faster_whisper_decoding(
    fmt: AudioFormat, encoded: dict[AudioFormat, Path]
) -> None:
    from faster_whisper.audio import decode_audio as faster_whisper_decode

    theirs = faster_whisper_decode(str(encoded[fmt]))

    # faster-whisper goes through int16, so the two agree to one quantization step.
    np.testing.assert_allclose(decode_audio(encoded[fmt]), theirs, rtol=0, atol=1.01 / 32768)


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "m4a"])
def test_44k_stereo_is_resampled_and_downmixed(fmt: AudioFormat, tmp_path: Path) -> None:
    stereo = tone(440, 2.0, 44_100, channels=2)
    stereo[:, 1] = 0  # the tone in the left channel only: it must survive the downmix
    path = encode_audio(stereo, 44_100, tmp_path / f"tone.{fmt}", fmt)

    audio = decode_audio(path)

    assert abs(len(audio) / SAMPLE_RATE - 2.0) < 0.1
    assert peak_hz(audio) == pytest.approx(440, abs=1)
    assert 0.2 < np.abs(audio).max() < 0.5


def test_sample_rate_change_mid_stream_is_resampled(tmp_path: Path) -> None:
    # MP3 is a bare sequence of frames, so two files back to back are one stream whose rate
    # changes half-way; players handle it, and so must decoding.
    first = encode_audio(tone(440, 1.0, 16_000), 16_000, tmp_path / "a.mp3", "mp3", options=NO_XING)
    second = encode_audio(
        tone(880, 1.0, 44_100), 44_100, tmp_path / "b.mp3", "mp3", options=NO_XING
    )
    joined = tmp_path / "joined.mp3"
    joined.write_bytes(first.read_bytes() + second.read_bytes())

    audio = decode_audio(joined)

    assert abs(len(audio) / SAMPLE_RATE - 2.0) < 0.15
    assert peak_hz(audio[: SAMPLE_RATE // 2]) == pytest.approx(440, abs=2)
    assert peak_hz(audio[-SAMPLE_RATE // 2 :]) == pytest.approx(880, abs=2)


@pytest.mark.parametrize(("fmt", "options"), [("mp3", NO_XING), ("webm", LIVE_WEBM)])
def test_files_without_a_declared_length_decode(
    fmt: AudioFormat, options: dict[str, str], speech: Samples, tmp_path: Path
) -> None:
    path = encode_audio(speech, SAMPLE_RATE, tmp_path / f"speech.{fmt}", fmt, options=options)

    assert probe_audio(path).duration_s is None
    assert abs(len(decode_audio(path)) - len(speech)) / SAMPLE_RATE < 0.1


def test_audio_ending_before_the_video_is_not_truncation(speech: Samples, tmp_path: Path) -> None:
    path = with_long_video(speech, SAMPLE_RATE, tmp_path / "talk.mkv", video_s=20)

    assert probe_audio(path).duration_s == pytest.approx(11.0)
    np.testing.assert_array_equal(decode_audio(path), speech)


# --- sources: path, bytes, file objects ------------------------------------------------------


class OneWayStream(io.RawIOBase):
    """A readable stream that cannot seek, like a socket or a pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_bytes_and_file_objects_decode_like_paths(encoded: dict[AudioFormat, Path]) -> None:
    path = encoded["m4a"]  # MP4 keeps its index at the end: decoding must seek
    expected = decode_audio(path)
    data = path.read_bytes()
    at_end = io.BytesIO(data)
    at_end.seek(0, io.SEEK_END)  # as a caller leaves it after writing

    with path.open("rb") as file:
        from_file = decode_audio(file)

    np.testing.assert_array_equal(decode_audio(data), expected)
    np.testing.assert_array_equal(decode_audio(at_end), expected)
    np.testing.assert_array_equal(decode_audio(io.BufferedReader(OneWayStream(data))), expected)
    np.testing.assert_array_equal(from_file, expected)


def test_errors_name_the_file_for_paths_and_named_file_objects(
    encoded: dict[AudioFormat, Path],
) -> None:
    cut = truncated(encoded["flac"])

    with pytest.raises(CorruptAudioError, match=r"^cut-speech\.flac: truncated"):
        decode_audio(cut)
    with cut.open("rb") as file, pytest.raises(CorruptAudioError, match=r"^cut-speech\.flac: "):
        decode_audio(file)
    with pytest.raises(CorruptAudioError, match=r"^truncated"):
        decode_audio(cut.read_bytes())


# --- bad input ---------------------------------------------------------------------------------

Build = Callable[[Path, Samples], Path]


def _text(tmp_path: Path, _: Samples) -> Path:
    path = tmp_path / "notes.wav"
    path.write_text("these are meeting notes, not a recording\n" * 20)
    return path


def _zero_bytes(tmp_path: Path, _: Samples) -> Path:
    path = tmp_path / "empty.wav"
    path.touch()
    return path


def _random_bytes(tmp_path: Path, _: Samples) -> Path:
    path = tmp_path / "noise.mp3"
    path.write_bytes(np.random.default_rng(0).bytes(50_000))
    return path


def _truncated(fmt: AudioFormat, **options: str) -> Build:
    def build(tmp_path: Path, speech: Samples) -> Path:
        path = encode_audio(speech, SAMPLE_RATE, tmp_path / f"speech.{fmt}", fmt, options=options)
        return truncated(path)

    return build


def _ogg_cut_between_pages(tmp_path: Path, speech: Samples) -> Path:
    path = encode_audio(speech, SAMPLE_RATE, tmp_path / "speech.ogg", "ogg")
    data = path.read_bytes()
    cut = tmp_path / "cut.ogg"
    cut.write_bytes(data[: data.index(b"OggS", len(data) // 2)])  # whole pages, no end page
    return cut


def _damaged(fmt: AudioFormat, **options: str) -> Build:
    """Ten stretches of 1 % of the file overwritten with noise, as a bad disk or transfer leaves."""

    def build(tmp_path: Path, speech: Samples) -> Path:
        path = encode_audio(speech, SAMPLE_RATE, tmp_path / f"speech.{fmt}", fmt, options=options)
        data = bytearray(path.read_bytes())
        rng = np.random.default_rng(1)
        for start in np.linspace(0.1, 0.8, 10) * len(data):
            stop = int(start) + len(data) // 100
            data[int(start) : stop] = rng.bytes(stop - int(start))
        path.write_bytes(bytes(data))
        return path

    return build


def _video_only(tmp_path: Path, _: Samples) -> Path:
    return video_only(tmp_path / "clip.mp4")


def _unknown_codec(tmp_path: Path, _: Samples) -> Path:
    path = tmp_path / "odd.wav"
    path.write_bytes(wav_bytes(bytes(3200), format_tag=0x9999))
    return path


def _no_samples(tmp_path: Path, _: Samples) -> Path:
    path = tmp_path / "silent.wav"
    path.write_bytes(wav_bytes(b""))
    return path


def _missing(tmp_path: Path, _: Samples) -> Path:
    return tmp_path / "nowhere.wav"


def _directory(tmp_path: Path, _: Samples) -> Path:
    return tmp_path


BAD_INPUTS = [
    pytest.param(_text, NotAudioError, "not an audio file", id="text-renamed-wav"),
    pytest.param(_zero_bytes, EmptyAudioError, r"empty \(0 bytes\)", id="zero-bytes"),
    pytest.param(_random_bytes, NotAudioError, "not an audio file", id="random-bytes"),
    pytest.param(_truncated("wav"), CorruptAudioError, "truncated", id="truncated-wav"),
    pytest.param(_truncated("flac"), CorruptAudioError, "truncated", id="truncated-flac"),
    pytest.param(_truncated("mp3"), CorruptAudioError, "truncated", id="truncated-mp3"),
    pytest.param(_truncated("ogg"), CorruptAudioError, "truncated", id="truncated-ogg"),
    pytest.param(_ogg_cut_between_pages, CorruptAudioError, "end-of-stream", id="ogg-no-end-page"),
    pytest.param(_truncated("m4a"), CorruptAudioError, "truncated", id="truncated-m4a"),
    pytest.param(
        _truncated("m4a", movflags="faststart"),
        CorruptAudioError,
        "truncated or damaged: header says 11.1 s",
        id="truncated-m4a-faststart",
    ),
    pytest.param(_truncated("webm"), CorruptAudioError, "truncated", id="truncated-webm"),
    pytest.param(_damaged("flac"), CorruptAudioError, "damaged", id="damaged-flac"),
    pytest.param(_damaged("ogg"), CorruptAudioError, "damaged", id="damaged-ogg"),
    pytest.param(
        _damaged("mp3", **NO_XING),
        CorruptAudioError,
        r"damaged: \d+ of \d+ packets could not be decoded",
        id="damaged-mp3-without-declared-length",
    ),
    pytest.param(_video_only, UnsupportedAudioError, "no audio stream", id="video-only"),
    pytest.param(_unknown_codec, UnsupportedAudioError, "codec", id="unknown-codec"),
    pytest.param(_no_samples, EmptyAudioError, "no audio samples", id="no-samples"),
    pytest.param(_missing, AudioError, "no such file: .*nowhere.wav", id="missing-file"),
    pytest.param(_directory, AudioError, "not a regular file", id="directory"),
]


@pytest.mark.parametrize(("build", "error", "message"), BAD_INPUTS)
def test_bad_input_raises_a_specific_error(
    build: Build, error: type[AudioError], message: str, speech: Samples, tmp_path: Path
) -> None:
    path = build(tmp_path, speech)

    with pytest.raises(error, match=message) as raised:
        decode_audio(path)

    assert type(raised.value) is error


def test_a_cut_file_that_declares_no_length_decodes_what_is_left(
    speech: Samples, tmp_path: Path
) -> None:
    # Without a declared length there is nothing to hold the decoded audio to, and a broken last
    # frame alone is what any recording stopped abruptly ends with.
    path = encode_audio(speech, SAMPLE_RATE, tmp_path / "speech.mp3", "mp3", options=NO_XING)

    audio = decode_audio(truncated(path))

    assert len(audio) / SAMPLE_RATE == pytest.approx(5.5, abs=0.2)


def test_a_damaged_file_keeps_ffmpeg_quiet(
    encoded: dict[AudioFormat, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(CorruptAudioError):
        decode_audio(truncated(encoded["flac"]))  # FFmpeg's FLAC decoder errors on the cut frame

    assert capfd.readouterr().err == ""


# --- max_duration_s ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_declared_length_over_the_limit_is_refused_before_decoding(
    fmt: AudioFormat, encoded: dict[AudioFormat, Path]
) -> None:
    with pytest.raises(AudioTooLongError, match=r"audio is 11\.\d s long, over the 5 s limit"):
        decode_audio(encoded[fmt], max_duration_s=5)


@pytest.mark.parametrize(("fmt", "options"), [("mp3", NO_XING), ("webm", LIVE_WEBM)])
def test_undeclared_length_over_the_limit_stops_decoding(
    fmt: AudioFormat, options: dict[str, str], speech: Samples, tmp_path: Path
) -> None:
    path = encode_audio(speech, SAMPLE_RATE, tmp_path / f"speech.{fmt}", fmt, options=options)

    with pytest.raises(
        AudioTooLongError, match=r"past the 5 s limit \(stopped decoding at 5\.\d s"
    ):
        decode_audio(path, max_duration_s=5)


def test_audio_within_the_limit_decodes(encoded: dict[AudioFormat, Path]) -> None:
    assert len(decode_audio(encoded["flac"], max_duration_s=11.5)) == 11 * SAMPLE_RATE


# --- probe_audio -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_probe_reads_the_headers(fmt: AudioFormat, encoded: dict[AudioFormat, Path]) -> None:
    info = probe_audio(encoded[fmt])

    assert isinstance(info, AudioInfo)
    assert info.codec == CODECS[fmt]
    assert info.channels == 1
    assert info.sample_rate == (48_000 if CODECS[fmt] == "opus" else SAMPLE_RATE)
    assert info.duration_s == pytest.approx(11.0, abs=0.1)
    assert info.container


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (_text, NotAudioError),
        (_zero_bytes, EmptyAudioError),
        (_truncated("wav"), CorruptAudioError),
        (_truncated("ogg"), CorruptAudioError),
        (_truncated("m4a"), CorruptAudioError),
        (_video_only, UnsupportedAudioError),
        (_unknown_codec, UnsupportedAudioError),
    ],
)
def test_probe_raises_what_headers_reveal(
    build: Build, error: type[AudioError], speech: Samples, tmp_path: Path
) -> None:
    with pytest.raises(error):
        probe_audio(build(tmp_path, speech))
