"""The speaker encoder and the diarizer on real speech (the installed ``voice-encoder``)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from echoic.diarize.checkpoint import read_checkpoint
from echoic.diarize.diarizer import Diarizer, load_diarizer
from echoic.diarize.encoder import ReferenceEncoder, SpeakerEncoder, mel_frames, normalize_volume
from echoic.diarize.types import SpeakerCount
from echoic.diarize.weights import (
    NAME,
    SPEC,
    check_conversion,
    install_voice_encoder,
    resolve_voice_encoder,
)
from echoic.diarize.words import engine_words_sync
from echoic.engines.models import copy_from_carriers
from echoic.errors import ModelCorruptError, ModelNotInstalledError
from echoic.types import Audio, TranscribeOptions
from tests.audio_factory import read_wav
from tests.speech import JFK_PATH, LJ001_0001_PATH, LS_367_130732_0005_PATH

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def diarizer(models_dir: Path) -> Diarizer:
    return load_diarizer(models_dir)


def _speech(shared_dir: Path, path: str) -> Audio:
    samples, rate = read_wav(shared_dir / path)
    assert rate == 16_000
    return samples


def test_the_converted_graph_computes_the_reference_network(
    models_dir: Path, shared_dir: Path, tmp_path: Path
) -> None:
    copy_from_carriers(SPEC, tmp_path, lambda _msg: None)
    arrays = read_checkpoint(tmp_path / "pretrained.pt")["model_state"]
    reference = ReferenceEncoder({k: np.asarray(v, np.float32) for k, v in arrays.items()})
    frames = mel_frames(normalize_volume(_speech(shared_dir, JFK_PATH)))
    windows = [frames[i : i + 160] for i in range(0, len(frames) - 160, 300)] + [frames[:37]]
    graph = SpeakerEncoder(resolve_voice_encoder(models_dir)).embed(windows)
    assert np.abs(graph - reference.embed(windows)).max() < 1e-4
    assert np.allclose(np.linalg.norm(graph, axis=1), 1.0, atol=1e-5)
    # The install-time check is the same comparison on synthetic frames; it must fail for a
    # graph of other weights.
    assert check_conversion(resolve_voice_encoder(models_dir), reference_arrays(arrays)) < 1e-4
    arrays["lstm.weight_hh_l1"] = arrays["lstm.weight_hh_l1"][::-1].copy()
    with pytest.raises(Exception, match="differs from the reference"):
        check_conversion(resolve_voice_encoder(models_dir), reference_arrays(arrays))


def reference_arrays(arrays: dict[str, Any]) -> dict[str, npt.NDArray[np.float32]]:
    return {
        k: np.asarray(v, np.float32) for k, v in arrays.items() if k.startswith(("lstm", "lin"))
    }


def test_windows_of_one_voice_are_closer_than_windows_of_two(
    diarizer: Diarizer, shared_dir: Path
) -> None:
    def windows(path: str) -> npt.NDArray[np.float32]:
        frames = mel_frames(normalize_volume(_speech(shared_dir, path)))
        chunks = [frames[i : i + 160] for i in range(0, len(frames) - 160, 160)]
        return diarizer._encoder.embed(chunks)

    ls, lj = windows(LS_367_130732_0005_PATH), windows(LJ001_0001_PATH)
    within = 1 - (ls @ ls.T)[np.triu_indices(len(ls), 1)]
    across = 1 - (ls @ lj.T).ravel()
    assert within.max() < across.min()


def test_two_voices_one_after_the_other_are_two_speakers(
    diarizer: Diarizer, shared_dir: Path
) -> None:
    ls = _speech(shared_dir, LS_367_130732_0005_PATH)
    lj = _speech(shared_dir, LJ001_0001_PATH)
    gap = np.zeros(8000, np.float32)
    audio = np.concatenate([ls, gap, lj, gap, ls[: 16000 * 6]])
    turns = diarizer.turns(audio)
    assert turns.speakers == 2
    junction = (len(ls) + len(gap) / 2) / 16000
    changes = [(a, b) for a, b in itertools.pairwise(turns.turns) if a.speaker != b.speaker]
    assert [(a.speaker, b.speaker) for a, b in changes] == [
        ("SPEAKER_00", "SPEAKER_01"),
        ("SPEAKER_01", "SPEAKER_00"),
    ]
    first, second = changes[0]
    assert junction - 1.0 < first.end <= junction < second.start < junction + 1.0


def test_one_voice_is_one_speaker_and_silence_is_none(diarizer: Diarizer, shared_dir: Path) -> None:
    assert diarizer.turns(_speech(shared_dir, LS_367_130732_0005_PATH)).speakers == 1
    assert diarizer.turns(np.zeros(16000 * 5, np.float32)).turns == ()
    # Asking for more speakers than there are voices still answers, with at most that many.
    asked = diarizer.turns(_speech(shared_dir, JFK_PATH), SpeakerCount(num_speakers=3))
    assert 1 <= asked.speakers <= 3


def test_missing_or_damaged_encoder_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(ModelNotInstalledError, match=f"echoic models install {NAME}"):
        load_diarizer(tmp_path)


def test_install_converts_checks_and_detects_damage(tmp_path: Path) -> None:
    target = install_voice_encoder(tmp_path, log=lambda _msg: None)
    graph = resolve_voice_encoder(tmp_path)
    assert graph.parent == target
    assert not (target / "pretrained.pt").exists()  # only the converted graph is kept
    graph.write_bytes(graph.read_bytes()[:-10])
    with pytest.raises(ModelCorruptError, match="--force"):
        resolve_voice_encoder(tmp_path)
    install_voice_encoder(tmp_path, log=lambda _msg: None)  # a damaged copy is replaced
    resolve_voice_encoder(tmp_path)


def test_aligned_words_match_the_decoders_own_word_timings(tiny: Any, shared_dir: Path) -> None:
    audio = _speech(shared_dir, JFK_PATH)
    plain = tiny.transcribe_sync(audio, TranscribeOptions())
    timed = tiny.transcribe_sync(audio, TranscribeOptions(word_timestamps=True))
    segment = plain.segments[0]
    clip = audio[int(segment.start * 16000) : int(segment.end * 16000)]
    words = engine_words_sync(tiny, TranscribeOptions())(clip, segment, plain.language)
    (aligned,) = words.segments
    assert aligned.text == segment.text  # aligned, not decoded again
    assert aligned.words is not None
    reference = [w for w in timed.words or () if w.start < segment.end]
    assert [w.word for w in aligned.words] == [w.word for w in reference]
    # A few 20 ms frames apart (another window), but one word in ten may be further: Whisper's
    # alignment can squeeze a short word after a pause into a frame or two, in either pass
    # ("my" of "And so, my fellow": 1.18-1.40 s aligned, 1.38-1.42 s decoded, on one CPU).
    offsets = [
        max(abs(got.start + segment.start - want.start), abs(got.end + segment.start - want.end))
        for got, want in zip(aligned.words, reference, strict=True)
    ]
    assert max(offsets) < 0.3, offsets
    assert sum(offset >= 0.1 for offset in offsets) <= len(offsets) // 10, offsets
