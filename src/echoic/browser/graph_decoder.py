"""The decoder graph: one step of Whisper's text decoder with its self-attention cache.

Each call takes the new tokens of ``B`` hypotheses (the start sequence on the first call, then
one token each), their cached self-attention keys and values of the tokens before them (an
empty ``[2L, B, 0, d]`` the first time) and the encoder's cross-attention keys and values,
shared by all hypotheses; it returns each hypothesis's next-token logits of the last position
only (the loop needs no others, and a ``[n, 51864]`` output would be most of a step's cost) and
the cache grown by ``n``. Positions and the causal mask follow from the cache's length inside
the graph, so a caller only threads tensors through; a beam search reorders the cache between
steps itself (a gather on axis 1). Greedy decoding is ``B = 1``.

CTranslate2's layout: ``self_attention/linear_0`` is the fused query, key and value projection
(the key's bias stored as zeros), ``attention/linear_0`` the cross-attention query,
``linear_2`` its output; the output projection is the token embedding (an alias).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from onnx import ModelProto, TensorProto, helper

from echoic.browser.ct2 import Checkpoint
from echoic.browser.graph import Graph, Weights


def build_decoder(
    ckpt: Checkpoint, *, half: bool, alignment_heads: Sequence[tuple[int, int]] = ()
) -> ModelProto:
    """``alignment_heads`` (``(layer, head)`` pairs, from CTranslate2's ``config.json``) add an
    output ``alignment`` ``[len(heads), n, frames]``: those heads' cross-attention weights for
    the new positions, which word timings align on (:mod:`echoic.browser.words`)."""
    g = Graph(half=half)
    w = Weights(g, ckpt)
    n_heads = int(ckpt.variables["decoder/num_heads"])
    embedding = w("decoder/embeddings/weight")
    n_vocab, d_model = ckpt.variables["decoder/embeddings/weight"].shape

    def scalar(t: str) -> str:  # [1] -> []
        return g.op("Squeeze", t, g.const([0]))

    batch_n = g.op("Shape", "tokens")  # [B, n]
    past = g.op("Shape", "self_kv", start=2, end=3)
    total = g.op("Add", past, g.op("Shape", "tokens", start=1, end=2))
    x = g.op("Gather", embedding, "tokens", axis=0)  # [B, n, d]
    table = w("decoder/position_encodings/encodings")
    x = g.op("Add", x, g.op("Slice", table, past, total, g.const([0])))
    x = g.op("Reshape", x, g.const([-1, d_model]))  # [B·n, d]: the linear layers stay 2-D
    one = g.const(1)
    queries = g.op("Range", scalar(past), scalar(total), one)
    keys = g.op("Range", g.const(0), scalar(total), one)
    future = g.op(
        "Greater", g.op("Unsqueeze", keys, g.const([0])), g.op("Unsqueeze", queries, g.const([1]))
    )
    zero, minus_inf = g.const(0.0, np.float32), g.const(-np.inf, np.float32)
    mask = g.op("Where", future, minus_inf, zero)  # [n, past + n]
    by_head = g.op("Concat", batch_n, g.const([n_heads, -1]), axis=0)  # [B, n, H, d/H]
    per_hypothesis = g.op("Concat", batch_n, g.const([d_model]), axis=0)  # [B, n, d]
    attend = _Attention(g, n_heads, d_model, by_head)
    grown, aligned = [], []
    for i in range(w.n_layers("decoder")):
        layer = f"decoder/layer_{i}"
        h = w.norm(x, f"{layer}/self_attention/layer_norm")
        qkv = w.linear(h, f"{layer}/self_attention/linear_0")
        q, k, v = g.ops("Split", qkv, g.const([d_model] * 3), axis=1, outputs=3)
        k, v = (g.op("Reshape", t, per_hypothesis) for t in (k, v))  # [B, n, d]
        k = g.op("Concat", g.op("Gather", "self_kv", g.const(2 * i), axis=0), k, axis=1)
        v = g.op("Concat", g.op("Gather", "self_kv", g.const(2 * i + 1), axis=0), v, axis=1)
        grown += [g.op("Unsqueeze", k, g.const([0])), g.op("Unsqueeze", v, g.const([0]))]
        mixed = attend(q, attend.batched_keys(k), attend.batched_values(v), mask)
        x = g.op("Add", x, w.linear(mixed, f"{layer}/self_attention/linear_1"))
        h = w.norm(x, f"{layer}/attention/layer_norm")
        q = w.linear(h, f"{layer}/attention/linear_0")
        k = attend.shared_keys(g.op("Gather", "cross_kv", g.const(2 * i), axis=0))
        v = attend.shared_values(g.op("Gather", "cross_kv", g.const(2 * i + 1), axis=0))
        heads = [h for layer_index, h in alignment_heads if layer_index == i]
        weights: list[str] = []
        mixed = attend(q, k, v, weights_out=weights if heads else None)
        if heads:  # [B, H, n, frames] -> these heads'
            aligned.append(g.op("Gather", weights[0], g.const(heads), axis=1))
        x = g.op("Add", x, w.linear(mixed, f"{layer}/attention/linear_2"))
        x = g.op("Add", x, w.ffn(x, layer))
    x = w.norm(x, "decoder/layer_norm")
    x = g.op("Reshape", x, per_hypothesis)
    last = g.op("Gather", x, g.const(-1), axis=1)  # [B, d]
    g.rename(g.op("Gemm", last, embedding, transB=1), "logits")
    g.rename(g.op("Concat", *grown, axis=0), "new_self_kv")
    n_cache = 2 * w.n_layers("decoder")

    def kv(name: str, length: str, batch: str | None = "batch") -> Any:
        shape = [n_cache, batch, length, d_model] if batch else [n_cache, length, d_model]
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    outputs = [
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", n_vocab]),
        kv("new_self_kv", "past_plus_n"),
    ]
    if aligned:
        g.rename(g.op("Concat", *aligned, axis=1), "alignment")
        shape: list[str | int] = ["batch", len(alignment_heads), "n", "frames"]
        outputs.append(helper.make_tensor_value_info("alignment", TensorProto.FLOAT, shape))
    return g.model(
        [
            helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "n"]),
            kv("self_kv", "past"),
            kv("cross_kv", "frames", batch=None),
        ],
        outputs,
        "Whisper decoder step: tokens [B, n] + cache [2L, B, past, d] -> logits [B, V], cache",
    )


class _Attention:
    """Attention of ``B`` hypotheses at once. Queries arrive flat, ``[B·n, d]``; the
    self-attention keys and values are per hypothesis, ``[B, T, d]``, while the encoder's
    cross-attention ones, ``[F, d]``, are shared: split into heads as ``[H, ·, ·]``, MatMul
    broadcasts them over ``B`` (never copied B times).

    Whisper scales queries and keys each by ``(d/H)^-¼``; one ``(d/H)^-½`` on the scores is
    the same product."""

    def __init__(self, g: Graph, n_heads: int, d_model: int, by_head: str) -> None:
        self.g, self.d_model, self.by_head = g, d_model, by_head
        self.scale = g.const(np.sqrt(d_model // n_heads), np.float32)
        self.split = g.const([0, 0, n_heads, -1])
        self.split_shared = g.const([0, n_heads, -1])

    def batched_keys(self, k: str) -> str:  # [B, T, d] -> [B, H, d/H, T]
        heads = self.g.op("Transpose", self.g.op("Reshape", k, self.split), perm=[0, 2, 1, 3])
        return self.g.op("Transpose", heads, perm=[0, 1, 3, 2])  # fused into the MatMul

    def batched_values(self, v: str) -> str:  # [B, T, d] -> [B, H, T, d/H]
        return self.g.op("Transpose", self.g.op("Reshape", v, self.split), perm=[0, 2, 1, 3])

    def shared_keys(self, k: str) -> str:  # [F, d] -> [H, d/H, F]
        heads = self.g.op("Transpose", self.g.op("Reshape", k, self.split_shared), perm=[1, 0, 2])
        return self.g.op("Transpose", heads, perm=[0, 2, 1])

    def shared_values(self, v: str) -> str:  # [F, d] -> [H, F, d/H]
        return self.g.op("Transpose", self.g.op("Reshape", v, self.split_shared), perm=[1, 0, 2])

    def __call__(
        self,
        q: str,
        keys: str,
        values: str,
        mask: str | None = None,
        weights_out: list[str] | None = None,
    ) -> str:
        g = self.g
        qh = g.op("Transpose", g.op("Reshape", q, self.by_head), perm=[0, 2, 1, 3])
        scores = g.op("Div", g.op("MatMul", qh, keys), self.scale)  # [B, H, n, T]
        if mask is not None:
            scores = g.op("Add", scores, mask)
        weights = g.op("Softmax", scores, axis=-1)
        if weights_out is not None:
            weights_out.append(weights)
        mixed = g.op("Transpose", g.op("MatMul", weights, values), perm=[0, 2, 1, 3])
        return g.op("Reshape", mixed, g.const([-1, self.d_model]))  # [B·n, d]
