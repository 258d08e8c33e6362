"""Silero VAD v6, one window at a time, with the ONNX model that ships inside faster-whisper.

faster-whisper's ``SileroVADModel`` scores a whole file in one batch; a live stream has only the
window that just arrived. The model's inputs make streaming exact: each 512-sample window is
prefixed with the previous window's last 64 samples (zeros for the first), and the LSTM state
``h``/``c`` of shape (1, 1, 128) runs on from one window to the next. Carrying both between calls
gives the same probabilities as the batch path (tested on real speech).
"""

from __future__ import annotations

import copy
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from echoic.errors import ModelCorruptError, ModelNotInstalledError
from echoic.vad.detector import WINDOW_SAMPLES, check_window

CONTEXT_SAMPLES = 64  # the tail of the previous window the model sees before each new one
_STATE_SHAPE = (1, 1, 128)  # the LSTM's h and c


def default_model_path() -> Path:
    """``faster_whisper/assets/silero_vad_v6.onnx``, found without importing faster-whisper."""
    spec = find_spec("faster_whisper")
    if spec is None or spec.origin is None:
        raise ModelNotInstalledError(
            "Silero VAD needs the model that ships with faster-whisper, which is not installed"
        )
    return Path(spec.origin).parent / "assets" / "silero_vad_v6.onnx"


class SileroVad:
    """A streaming :class:`~echoic.vad.SpeechDetector` for one stream.

    The ONNX session runs on one intra-op and one inter-op thread: a window costs well under a
    millisecond, and more threads would only contend with the speech models. ``fork`` gives
    another stream its own state over the same loaded session (running a session is
    thread-safe), so a server loads the file once.
    """

    window_samples = WINDOW_SAMPLES

    def __init__(self, model_path: str | Path | None = None) -> None:
        self._session = _load(model_path)
        self._input = np.zeros((1, CONTEXT_SAMPLES + WINDOW_SAMPLES), dtype=np.float32)
        self._h = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(_STATE_SHAPE, dtype=np.float32)

    def fork(self) -> SileroVad:
        """A detector with fresh state that shares this one's loaded model."""
        twin = copy.copy(self)
        twin._input = np.zeros_like(self._input)
        twin.reset()
        return twin

    def probability(self, window: npt.ArrayLike) -> float:
        samples = check_window(window, WINDOW_SAMPLES)
        self._input[0, CONTEXT_SAMPLES:] = samples
        probs, self._h, self._c = self._session.run(
            None, {"input": self._input, "h": self._h, "c": self._c}
        )
        # This window's tail is the next window's context.
        self._input[0, :CONTEXT_SAMPLES] = samples[-CONTEXT_SAMPLES:]
        return float(np.asarray(probs).reshape(-1)[0])

    def reset(self) -> None:
        self._input.fill(0.0)
        self._h = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(_STATE_SHAPE, dtype=np.float32)


def _load(model_path: str | Path | None) -> Any:
    import onnxruntime  # deferred: importing echoic.vad for the state machine needs no runtime

    path = Path(model_path) if model_path is not None else default_model_path()
    if not path.is_file():
        raise ModelNotInstalledError(
            f"Silero VAD model not found at {path} (it ships with faster-whisper; "
            "reinstall faster-whisper or pass the .onnx path)"
        )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 4  # fatal only: keep native chatter off the real-time path
    try:
        return onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors for a bad file
        raise ModelCorruptError(f"cannot load the Silero VAD model at {path}: {exc}") from exc
