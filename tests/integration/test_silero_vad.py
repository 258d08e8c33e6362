"""Streaming Silero VAD on real speech: exactly what faster-whisper's batch model computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from faster_whisper.vad import SileroVADModel

from echoic.audio import decode_audio
from echoic.errors import ModelCorruptError, ModelNotInstalledError
from echoic.types import SAMPLE_RATE
from echoic.vad import WINDOW_SAMPLES, SileroVad, SpeechDetector
from echoic.vad.silero import default_model_path
from tests.speech import JFK_PATH

Floats = npt.NDArray[np.float32]


@pytest.fixture(scope="module")
def silero() -> SileroVad:
    return SileroVad()


@pytest.fixture(scope="module")
def jfk(shared_dir: Path) -> Floats:
    audio = decode_audio(shared_dir / JFK_PATH)
    return audio[: len(audio) // WINDOW_SAMPLES * WINDOW_SAMPLES]


def stream(vad: SileroVad, audio: Floats) -> Floats:
    vad.reset()
    windows = audio.reshape(-1, WINDOW_SAMPLES)
    return np.array([vad.probability(w) for w in windows], dtype=np.float32)


def test_it_is_a_speech_detector(silero: SileroVad) -> None:
    assert isinstance(silero, SpeechDetector)
    assert silero.window_samples == 512


def test_streaming_matches_faster_whisper_batch(silero: SileroVad, jfk: Floats) -> None:
    batch = SileroVADModel(str(default_model_path()))(jfk).reshape(-1)

    streamed = stream(silero, jfk)

    assert streamed.shape == batch.shape == (len(jfk) // WINDOW_SAMPLES,)
    np.testing.assert_allclose(streamed, batch, atol=1e-4, rtol=0)


def test_real_speech_is_found(silero: SileroVad, jfk: Floats) -> None:
    p = stream(silero, jfk)

    assert p[:8].max() < 0.5  # the first quarter second, before he speaks
    assert 0.4 < (p > 0.5).mean() < 0.9
    assert p.max() > 0.95


def test_reset_and_fork_start_from_fresh_state(silero: SileroVad, jfk: Floats) -> None:
    windows = jfk[: 100 * WINDOW_SAMPLES].reshape(-1, WINDOW_SAMPLES)
    first = stream(silero, jfk[: 100 * WINDOW_SAMPLES])  # leaves silero mid-stream
    twin = silero.fork()
    silero.reset()

    # Interleaved, the two streams share the model but not their state.
    pairs = [(silero.probability(w), twin.probability(w)) for w in windows]

    np.testing.assert_array_equal(np.array(pairs, dtype=np.float32), np.stack([first, first], 1))


def _noise(seconds: float, dbfs: float) -> Floats:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(round(seconds * SAMPLE_RATE))
    scaled: Floats = (x / np.sqrt(np.mean(x**2)) * 10 ** (dbfs / 20)).astype(np.float32)
    return scaled


def _tone(seconds: float, hz: float) -> Floats:
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.mark.parametrize(
    "audio",
    [np.zeros(3 * SAMPLE_RATE, np.float32), _noise(3, -50), _noise(3, -20), _tone(3, 1000)],
    ids=["silence", "noise-50dB", "noise-20dB", "tone-1kHz"],
)
def test_silence_noise_and_tones_are_not_speech(silero: SileroVad, audio: Floats) -> None:
    n = len(audio) // WINDOW_SAMPLES * WINDOW_SAMPLES

    assert stream(silero, audio[:n]).max() < 0.5


@pytest.mark.parametrize("shape", [(511,), (1024,), (1, 512)])
def test_a_window_has_exactly_512_samples(silero: SileroVad, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="512"):
        silero.probability(np.zeros(shape, dtype=np.float32))


def test_a_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotInstalledError, match="not found"):
        SileroVad(tmp_path / "absent.onnx")


def test_a_damaged_model_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")

    with pytest.raises(ModelCorruptError, match="cannot load"):
        SileroVad(broken)
