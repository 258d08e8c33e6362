"""The energy detector: quiet on silence and steady sounds, above 0.5 on real speech."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from echoic.audio import decode_audio
from echoic.types import SAMPLE_RATE
from echoic.vad import WINDOW_SAMPLES, EnergyVad, SpeechDetector
from tests.speech import JFK_PATH

Floats = npt.NDArray[np.float32]
WINDOWS_PER_S = SAMPLE_RATE / WINDOW_SAMPLES


def probabilities(audio: Floats, vad: EnergyVad | None = None) -> Floats:
    vad = vad or EnergyVad()
    n = len(audio) // WINDOW_SAMPLES
    windows = audio[: n * WINDOW_SAMPLES].reshape(n, WINDOW_SAMPLES)
    return np.array([vad.probability(w) for w in windows], dtype=np.float32)


def at_dbfs(signal: npt.NDArray[np.float64], dbfs: float) -> Floats:
    """``signal`` scaled to an RMS level of ``dbfs``."""
    rms = np.sqrt(np.mean(signal**2))
    scaled: Floats = (signal / rms * 10 ** (dbfs / 20)).astype(np.float32)
    return scaled


def white(seconds: float, dbfs: float, seed: int = 0) -> Floats:
    rng = np.random.default_rng(seed)
    return at_dbfs(rng.standard_normal(round(seconds * SAMPLE_RATE)), dbfs)


def rumble(seconds: float, dbfs: float, seed: int = 0) -> Floats:
    """Low-passed noise (a one-pole filter at ≈ 250 Hz): a fan, traffic, the session noise bed."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(round(seconds * SAMPLE_RATE))
    y = np.empty_like(x)
    state = 0.0
    for i, v in enumerate(x):
        state += 0.1 * (v - state)
        y[i] = state
    return at_dbfs(y, dbfs)


def tone(seconds: float, dbfs: float, hz: float = 1000.0) -> Floats:
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return at_dbfs(np.sin(2 * np.pi * hz * t), dbfs)


def silence(seconds: float) -> Floats:
    return np.zeros(round(seconds * SAMPLE_RATE), dtype=np.float32)


def test_it_is_a_speech_detector() -> None:
    vad = EnergyVad()

    assert isinstance(vad, SpeechDetector)
    assert vad.window_samples == 512


@pytest.mark.parametrize(
    "audio",
    [
        silence(3),
        white(3, -50),
        rumble(3, -50),
        white(3, -20),
        rumble(3, -10),
        tone(3, -6),
        tone(3, -40, hz=120),
        np.concatenate([silence(1), rumble(3, -30)]),  # a microphone opening onto a room
        np.concatenate([rumble(1, -45), silence(0.5), rumble(2, -45, seed=1)]),  # muted, unmuted
        np.full(3 * SAMPLE_RATE, 0.25, dtype=np.float32),  # DC offset
    ],
    ids=[
        "digital-silence",
        "white-50dB",
        "rumble-50dB",
        "white-20dB",
        "rumble-10dB",
        "tone-1kHz-6dB",
        "hum-120Hz-40dB",
        "silence-then-noise",
        "noise-muted-noise",
        "dc",
    ],
)
def test_silence_and_steady_sounds_are_not_speech(audio: Floats) -> None:
    assert probabilities(audio).max() < 0.5


def test_a_background_that_gets_louder_is_learned_within_the_floor_window() -> None:
    audio = np.concatenate([rumble(2, -50), rumble(4, -30, seed=1)])

    p = probabilities(audio)

    settled = round((2 + 2.1) * WINDOWS_PER_S)  # 2 s of the louder noise, plus a window
    assert p[:60].max() < 0.5
    assert p[settled:].max() < 0.5


def test_speech_is_found_on_the_jfk_clip(shared_dir: Path) -> None:
    audio = decode_audio(shared_dir / JFK_PATH)
    vad = EnergyVad()
    levels, p = [], []
    for start in range(0, len(audio) - WINDOW_SAMPLES + 1, WINDOW_SAMPLES):
        window = audio[start : start + WINDOW_SAMPLES]
        levels.append(10 * np.log10(np.mean(window.astype(np.float64) ** 2) + 1e-12))
        p.append(vad.probability(window))
    loud = np.array(levels) > -25  # voiced speech: the crowd noise sits near -42 dBFS
    probs = np.array(p)

    assert probs[:10].max() < 0.5  # the first 0.3 s, before he speaks
    assert (probs[loud] > 0.5).mean() > 0.95
    assert (probs > 0.5).mean() > 0.4  # the clip is about 60 % speech (Silero)
    assert vad.noise_floor_db is not None
    assert -48 < vad.noise_floor_db < -35


def test_speech_over_a_noise_bed_follows_the_reference_spans(shared_dir: Path) -> None:
    sessions = shared_dir / "eval/dev/sessions"
    meta = json.loads((sessions / "session_02.json").read_text())
    p = probabilities(decode_audio(sessions / "session_02.wav"))
    ends_s = (np.arange(len(p)) + 1) / WINDOWS_PER_S
    starts_s = ends_s - 1 / WINDOWS_PER_S

    in_gap = np.ones(len(p), dtype=bool)
    per_utterance = []
    for segment in meta["segments"]:
        inside = (starts_s >= segment["speech_start_s"]) & (ends_s <= segment["speech_end_s"])
        per_utterance.append((p[inside] > 0.5).mean())
        # The reference spans are energy estimates (± 20-40 ms); word endings fade out.
        near = (ends_s > segment["speech_start_s"] - 0.1) & (
            starts_s < segment["speech_end_s"] + 0.3
        )
        in_gap &= ~near

    assert len(per_utterance) == 7
    assert np.mean(per_utterance) > 0.75
    assert min(per_utterance) > 0.7
    assert in_gap.sum() > 150
    assert (p[in_gap] < 0.5).mean() > 0.95


def test_reset_forgets_the_noise_floor() -> None:
    vad = EnergyVad()
    probabilities(rumble(2, -20), vad)
    loud_floor = vad.noise_floor_db

    vad.reset()
    reset_floor = vad.noise_floor_db
    quiet = probabilities(rumble(2, -50), vad)

    assert loud_floor is not None
    assert loud_floor > -25
    assert reset_floor is None
    assert quiet.max() < 0.5
    assert (vad.noise_floor_db or 0.0) < -45


def test_a_loud_burst_over_the_floor_is_speech() -> None:
    burst = np.concatenate([rumble(1, -50), white(0.3, -20, seed=2), rumble(1, -50, seed=3)])

    p = probabilities(burst)

    assert (p[32:40] > 0.5).all()  # the burst's whole windows
    assert p[:31].max() < 0.5
    assert p[42:].max() < 0.5


@pytest.mark.parametrize("shape", [(511,), (513,), (2, 512), ()])
def test_a_window_has_exactly_512_samples(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="512"):
        EnergyVad().probability(np.zeros(shape, dtype=np.float32))


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="positive"):
        EnergyVad(slope_db=0)
