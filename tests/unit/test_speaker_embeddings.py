"""The process's speaker encoder for live streams: loaded once, on first use, thread-safe."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from echoic.errors import ModelNotInstalledError
from echoic.streaming.speakers import SpeakerEmbeddings, installed_voice_encoder
from echoic.types import Audio
from tests.stream_kit import run_async, speech


class Loudness:
    def embed_speech(self, audio: Audio) -> npt.NDArray[np.float32] | None:
        return np.array([float(np.abs(audio).max())], np.float32)


def test_the_embedder_is_loaded_once_however_many_streams_ask_at_once() -> None:
    loads: list[str] = []

    def load() -> Loudness:
        loads.append(threading.current_thread().name)
        time.sleep(0.05)  # a slow load: the others wait for it instead of loading again
        return Loudness()

    speakers = SpeakerEmbeddings(load)
    with ThreadPoolExecutor(4) as pool:
        embedders = list(pool.map(lambda _: speakers.load(), range(8)))
    assert len(loads) == 1
    assert len({id(e) for e in embedders}) == 1
    speakers.close()


def test_a_failed_load_is_tried_again_and_its_error_reaches_the_caller(tmp_path: Path) -> None:
    speakers = installed_voice_encoder(tmp_path)  # nothing installed
    for _ in range(2):
        with pytest.raises(ModelNotInstalledError, match="echoic models install voice-encoder"):
            speakers.load()
    speakers.close()


def test_embed_runs_on_the_speaker_threads() -> None:
    names: list[str] = []

    class Recording(Loudness):
        def embed_speech(self, audio: Audio) -> npt.NDArray[np.float32] | None:
            names.append(threading.current_thread().name)
            return super().embed_speech(audio)

    speakers = SpeakerEmbeddings.of(Recording())
    vector = run_async(speakers.embed(speech(100, amplitude=0.25)))
    assert vector is not None
    assert vector[0] == pytest.approx(0.25, abs=1e-3)
    assert names[0].startswith("echoic-speakers")
    speakers.close()
