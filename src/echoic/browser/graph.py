"""A small ONNX graph builder shared by the encoder and decoder exports.

Weights go in as float16 or float32 initializers; a float16 one is followed by a ``Cast`` to
float32, which onnxruntime folds once when the session starts, so the file is half the size and
the arithmetic stays float32 (Whisper's weights were trained in float16 anyway). Only operators
of opset 17 that onnxruntime-web's WASM backend runs are used.
"""

from __future__ import annotations

from itertools import count
from typing import Any

import numpy as np
import numpy.typing as npt
from onnx import ModelProto, TensorProto, helper, numpy_helper

from echoic.browser.ct2 import Checkpoint

OPSET = 17

Array = npt.NDArray[Any]


class Graph:
    def __init__(self, *, half: bool) -> None:
        self.half = half
        self.nodes: list[Any] = []
        self.initializers: list[TensorProto] = []
        self._ids = count()

    def name(self, hint: str) -> str:
        return f"{hint}_{next(self._ids)}"

    def op(self, op_type: str, *inputs: str, **attrs: Any) -> str:
        """Add one node; return its output's name."""
        return self.ops(op_type, *inputs, outputs=1, **attrs)[0]

    def ops(self, op_type: str, *inputs: str, outputs: int, **attrs: Any) -> list[str]:
        """Add one node with several outputs (``Split``); return their names."""
        names = [self.name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, **attrs))
        return names

    def weight(self, name: str, value: Array, *, exact: bool = False) -> str:
        """A float weight; stored as float16 unless the graph is float32 or ``exact`` is set."""
        value = np.ascontiguousarray(value, dtype=np.float32)
        if self.half and not exact:
            self.initializers.append(numpy_helper.from_array(value.astype(np.float16), name))
            return self.op("Cast", name, to=TensorProto.FLOAT)
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def const(self, value: Array | list[int] | int | float, dtype: Any = np.int64) -> str:
        name = self.name("const")
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    # -- layers ------------------------------------------------------------------------------

    def linear(self, x: str, weight: str, bias: str | None) -> str:
        """``x @ weight.T + bias`` for a CTranslate2 weight stored ``[out, in]``."""
        if bias is None:
            return self.op("MatMul", x, self.op("Transpose", weight, perm=[1, 0]))
        return self.op("Gemm", x, weight, bias, transB=1)

    def layer_norm(self, x: str, gamma: str, beta: str) -> str:
        return self.op("LayerNormalization", x, gamma, beta, axis=-1, epsilon=1e-5)

    def gelu(self, x: str) -> str:
        """Whisper's exact GELU, ``x · ½ · (1 + erf(x / √2))`` (ONNX's Gelu op is opset 20)."""
        scaled = self.op("Mul", x, self.const(1 / np.sqrt(2), np.float32))
        one_plus = self.op("Add", self.op("Erf", scaled), self.const(1.0, np.float32))
        return self.op("Mul", self.op("Mul", x, one_plus), self.const(0.5, np.float32))

    def heads(self, x: str, n_heads: int) -> str:
        """``[T, d]`` → ``[H, T, d/H]``."""
        split = self.op("Reshape", x, self.const([0, n_heads, -1]))
        return self.op("Transpose", split, perm=[1, 0, 2])

    def attention(
        self,
        q: str,
        k: str,
        v: str,
        n_heads: int,
        mask: str | None = None,
        weights_out: list[str] | None = None,
    ) -> str:
        """Scaled dot-product attention of ``[Tq, d]`` queries on ``[Tk, d]`` keys and values;
        the ``[H, Tq, Tk]`` attention weights are appended to ``weights_out`` when given.

        Whisper scales queries and keys each by ``(d/H)^-¼``; one ``(d/H)^-½`` on the scores is
        the same product."""
        qh, kh, vh = (self.heads(t, n_heads) for t in (q, k, v))
        scores = self.op("MatMul", qh, self.op("Transpose", kh, perm=[0, 2, 1]))
        head_dim = self.op("Cast", self.op("Shape", qh, start=2, end=3), to=TensorProto.FLOAT)
        scores = self.op("Div", scores, self.op("Sqrt", head_dim))
        if mask is not None:
            scores = self.op("Add", scores, mask)
        weights = self.op("Softmax", scores, axis=-1)
        if weights_out is not None:
            weights_out.append(weights)
        mixed = self.op("MatMul", weights, vh)
        merged = self.op("Transpose", mixed, perm=[1, 0, 2])
        return self.op("Reshape", merged, self.const([0, -1]))

    def model(self, inputs: list[Any], outputs: list[Any], doc: str) -> ModelProto:
        graph = helper.make_graph(self.nodes, "echoic", inputs, outputs, self.initializers)
        graph.doc_string = doc
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="echoic"
        )
        model.ir_version = 8  # what onnxruntime-web and onnxruntime ≥ 1.14 read
        return model

    def rename(self, tensor: str, name: str) -> None:
        self.nodes.append(helper.make_node("Identity", [tensor], [name]))


class Weights:
    """A checkpoint's variables as graph inputs, each stored once however often it is used
    (the token embedding is also the output projection), with Whisper's layer shapes."""

    def __init__(self, graph: Graph, ckpt: Checkpoint) -> None:
        self.g = graph
        self.ckpt = ckpt
        self._added: dict[str, str] = {}

    def __call__(self, name: str) -> str:
        if name not in self._added:
            self._added[name] = self.g.weight(name, self.ckpt.get(name))
        return self._added[name]

    def linear(self, x: str, prefix: str) -> str:
        return self.g.linear(x, self(f"{prefix}/weight"), self(f"{prefix}/bias"))

    def norm(self, x: str, prefix: str) -> str:
        return self.g.layer_norm(x, self(f"{prefix}/gamma"), self(f"{prefix}/beta"))

    def ffn(self, x: str, layer: str) -> str:
        """The pre-norm feed-forward block's residual: ``linear_1(gelu(linear_0(norm(x))))``."""
        h = self.norm(x, f"{layer}/ffn/layer_norm")
        return self.linear(
            self.g.gelu(self.linear(h, f"{layer}/ffn/linear_0")), f"{layer}/ffn/linear_1"
        )

    def n_layers(self, stack: str) -> int:
        suffix = "/self_attention/layer_norm/gamma"
        return sum(
            1 for n in self.ckpt.variables if n.startswith(f"{stack}/") and n.endswith(suffix)
        )
