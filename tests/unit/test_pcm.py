"""Raw PCM conversion and streaming resampling."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from echoic.audio import Resampler, pcm_to_float32
from echoic.errors import AudioError, UnsupportedAudioError
from echoic.types import SAMPLE_RATE

Floats = npt.NDArray[np.float32]


def peak_hz(samples: Floats, rate: int = SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def sine(freq_hz: float, duration_s: float, rate: int) -> Floats:
    t = np.arange(round(duration_s * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def resample_in_chunks(resampler: Resampler, samples: Floats, sizes: list[int]) -> Floats:
    out, start = [], 0
    for size in sizes:
        out.append(resampler.process(samples[start : start + size]))
        start += size
    out.append(resampler.process(samples[start:]))
    out.append(resampler.flush())
    return np.concatenate(out)


# --- pcm_to_float32 ----------------------------------------------------------------------------


def test_s16le_maps_full_scale_exactly() -> None:
    ints = np.array([0, 1, -1, 16384, 32767, -32768], dtype="<i2")

    out = pcm_to_float32(ints.tobytes(), "pcm_s16le")

    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [0, 1 / 32768, -1 / 32768, 0.5, 32767 / 32768, -1.0])


def test_f32le_passes_values_through_and_clips_out_of_range() -> None:
    floats = np.array([0.0, 0.25, -0.5, 1.0, -1.0, 1.5, -3.0], dtype="<f4")

    out = pcm_to_float32(floats.tobytes(), "pcm_f32le")

    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [0.0, 0.25, -0.5, 1.0, -1.0, 1.0, -1.0])


def test_bytes_are_read_little_endian() -> None:
    assert pcm_to_float32(b"\x00\x40", "pcm_s16le")[0] == 0.5  # 0x4000 little-endian
    assert pcm_to_float32(b"\x00\x00\x80\x3e", "pcm_f32le")[0] == 0.25


def test_output_is_writable_and_does_not_share_the_input() -> None:
    data = bytearray(np.array([1000, -1000], dtype="<i2").tobytes())

    out = pcm_to_float32(data, "pcm_s16le")
    out[0] = 0.0
    data[:] = bytes(len(data))

    assert out[1] == pytest.approx(-1000 / 32768)


def test_empty_input_gives_no_samples() -> None:
    assert pcm_to_float32(b"", "pcm_s16le").size == 0
    assert pcm_to_float32(b"", "pcm_f32le").size == 0


@pytest.mark.parametrize(
    ("data", "encoding", "message"),
    [
        (b"\x00\x01\x02", "pcm_s16le", "whole 2-byte samples, got 3 bytes"),
        (b"\x00" * 6, "pcm_f32le", "whole 4-byte samples, got 6 bytes"),
        (np.array([0.1, np.nan], "<f4").tobytes(), "pcm_f32le", "NaN or infinite"),
        (np.array([np.inf], "<f4").tobytes(), "pcm_f32le", "NaN or infinite"),
    ],
)
def test_bad_pcm_is_refused(data: bytes, encoding: str, message: str) -> None:
    with pytest.raises(AudioError, match=message):
        pcm_to_float32(data, encoding)  # type: ignore[arg-type]


def test_unknown_encoding_is_unsupported() -> None:
    with pytest.raises(UnsupportedAudioError, match="pcm_mulaw"):
        pcm_to_float32(b"\x00\x00", "pcm_mulaw")  # type: ignore[arg-type]


# --- Resampler ---------------------------------------------------------------------------------


def test_16k_mono_passes_through_exactly_as_a_copy() -> None:
    samples = np.random.default_rng(0).uniform(-1, 1, 1600).astype(np.float32)
    resampler = Resampler(SAMPLE_RATE)

    out = resampler.process(samples)

    np.testing.assert_array_equal(out, samples)
    assert not np.shares_memory(out, samples)
    assert resampler.flush().size == 0


@pytest.mark.parametrize(("rate", "freq_hz"), [(48_000, 1000), (44_100, 440), (8_000, 3000)])
def test_tone_keeps_its_frequency_and_the_stream_its_length(rate: int, freq_hz: int) -> None:
    resampler = Resampler(rate)
    samples = sine(freq_hz, 1.0, rate)

    out = resample_in_chunks(resampler, samples, [rate // 50] * 49)  # 20 ms chunks

    assert out.dtype == np.float32
    assert len(out) == SAMPLE_RATE
    assert peak_hz(out) == pytest.approx(freq_hz, abs=1)
    assert np.abs(out[SAMPLE_RATE // 10 : -SAMPLE_RATE // 10]).max() == pytest.approx(0.5, abs=0.02)


def test_content_above_8k_is_filtered_not_folded_back() -> None:
    # A 12 kHz tone at 48 kHz has no place in 16 kHz audio; unfiltered, it would alias to 4 kHz.
    out = resample_in_chunks(Resampler(48_000), sine(12_000, 1.0, 48_000), [960] * 49)

    assert np.sqrt(np.mean(out**2)) < 0.01


@settings(max_examples=40, deadline=None)
@given(
    rate=st.sampled_from([8_000, 11_025, 22_050, 24_000, 44_100, 48_000]),
    sizes=st.lists(st.integers(min_value=0, max_value=3000), max_size=30),
)
def test_chunking_does_not_change_the_output(rate: int, sizes: list[int]) -> None:
    samples = np.random.default_rng(rate).uniform(-0.5, 0.5, rate // 2).astype(np.float32)

    whole = resample_in_chunks(Resampler(rate), samples, [])
    chunked = resample_in_chunks(Resampler(rate), samples, sizes)

    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    rate=st.sampled_from([SAMPLE_RATE, 44_100]),
    sizes=st.lists(st.integers(min_value=0, max_value=999), max_size=20),
)
def test_stereo_frames_split_across_chunks_are_kept_whole(rate: int, sizes: list[int]) -> None:
    rng = np.random.default_rng(7)
    interleaved = rng.uniform(-0.5, 0.5, 2 * rate // 4).astype(np.float32)

    whole = resample_in_chunks(Resampler(rate, channels=2), interleaved, [])
    chunked = resample_in_chunks(Resampler(rate, channels=2), interleaved, sizes)

    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-6)


def test_channels_are_averaged() -> None:
    frames = np.array([[0.5, 0.25], [-1.0, 1.0], [0.2, 0.0]], dtype=np.float32)
    resampler = Resampler(SAMPLE_RATE, channels=2)

    from_interleaved = resampler.process(frames.reshape(-1))
    from_frames = resampler.process(frames)

    np.testing.assert_allclose(from_interleaved, [0.375, 0.0, 0.1], rtol=1e-6)
    np.testing.assert_array_equal(from_frames, from_interleaved)


def test_flush_starts_a_new_stream() -> None:
    samples = sine(440, 0.5, 48_000)
    resampler = Resampler(48_000)

    first = resample_in_chunks(resampler, samples, [4800])
    second = resample_in_chunks(resampler, samples, [4800])

    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize(("rate", "channels"), [(0, 1), (-16_000, 1), (16_000, 0), (10**7, 1)])
def test_impossible_stream_formats_are_refused(rate: int, channels: int) -> None:
    with pytest.raises(UnsupportedAudioError):
        Resampler(rate, channels)


def test_wrongly_shaped_input_is_refused() -> None:
    with pytest.raises(AudioError, match=r"got shape \(4, 3\)"):
        Resampler(SAMPLE_RATE, channels=2).process(np.zeros((4, 3), dtype=np.float32))
