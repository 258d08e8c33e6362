"""The decoder graph: one step of Whisper's text decoder with its self-attention cache.

Each call takes the new tokens (the start sequence on the first call, then one token), the
cached self-attention keys and values of the tokens before them (an empty ``[2L, 0, d]`` the
first time) and the encoder's cross-attention keys and values; it returns the next-token logits
of the last position only (the loop needs no others, and a ``[n, 51864]`` output would be most of
a step's cost) and the cache grown by ``n``. Positions and the causal mask follow from the
cache's length inside the graph, so a caller only threads tensors through.

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

_INT_MAX = np.iinfo(np.int64).max


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

    past = g.op("Shape", "self_kv", start=1, end=2)
    total = g.op("Add", past, g.op("Shape", "tokens", start=1, end=2))
    x = g.op("Gather", embedding, g.op("Squeeze", "tokens", g.const([0])), axis=0)  # [n, d]
    table = w("decoder/position_encodings/encodings")
    x = g.op("Add", x, g.op("Slice", table, past, total, g.const([0])))
    one = g.const(1)
    queries = g.op("Range", scalar(past), scalar(total), one)
    keys = g.op("Range", g.const(0), scalar(total), one)
    future = g.op(
        "Greater", g.op("Unsqueeze", keys, g.const([0])), g.op("Unsqueeze", queries, g.const([1]))
    )
    zero, minus_inf = g.const(0.0, np.float32), g.const(-np.inf, np.float32)
    mask = g.op("Where", future, minus_inf, zero)  # [n, past + n]
    grown, aligned = [], []
    for i in range(w.n_layers("decoder")):
        layer = f"decoder/layer_{i}"
        h = w.norm(x, f"{layer}/self_attention/layer_norm")
        qkv = w.linear(h, f"{layer}/self_attention/linear_0")
        q, k, v = g.ops("Split", qkv, g.const([d_model] * 3), axis=1, outputs=3)
        k = g.op("Concat", g.op("Gather", "self_kv", g.const(2 * i), axis=0), k, axis=0)
        v = g.op("Concat", g.op("Gather", "self_kv", g.const(2 * i + 1), axis=0), v, axis=0)
        grown += [g.op("Unsqueeze", k, g.const([0])), g.op("Unsqueeze", v, g.const([0]))]
        mixed = g.attention(q, k, v, n_heads, mask)
        x = g.op("Add", x, w.linear(mixed, f"{layer}/self_attention/linear_1"))
        h = w.norm(x, f"{layer}/attention/layer_norm")
        q = w.linear(h, f"{layer}/attention/linear_0")
        k = g.op("Gather", "cross_kv", g.const(2 * i), axis=0)
        v = g.op("Gather", "cross_kv", g.const(2 * i + 1), axis=0)
        heads = [h for layer_index, h in alignment_heads if layer_index == i]
        weights: list[str] = []
        mixed = g.attention(q, k, v, n_heads, weights_out=weights if heads else None)
        if heads:
            aligned.append(g.op("Gather", weights[0], g.const(heads), axis=0))
        x = g.op("Add", x, w.linear(mixed, f"{layer}/attention/linear_2"))
        x = g.op("Add", x, w.ffn(x, layer))
    x = w.norm(x, "decoder/layer_norm")
    last = g.op("Slice", x, g.const([-1]), g.const([_INT_MAX]), g.const([0]))  # [1, d]
    g.rename(g.op("Gemm", last, embedding, transB=1), "logits")
    g.rename(g.op("Concat", *grown, axis=0), "new_self_kv")
    n_cache = 2 * w.n_layers("decoder")

    def kv(name: str, length: str) -> Any:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [n_cache, length, d_model])

    outputs = [
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, n_vocab]),
        kv("new_self_kv", "past_plus_n"),
    ]
    if aligned:
        g.rename(g.op("Concat", *aligned, axis=0), "alignment")
        outputs.append(
            helper.make_tensor_value_info(
                "alignment", TensorProto.FLOAT, [len(alignment_heads), "n", "frames"]
            )
        )
    return g.model(
        [
            helper.make_tensor_value_info("tokens", TensorProto.INT64, [1, "n"]),
            kv("self_kv", "past"),
            kv("cross_kv", "frames"),
        ],
        outputs,
        "Whisper decoder step: tokens [1, n] + cache [2L, past, d] -> logits [1, V], cache",
    )
