"""A tiny synthetic Whisper checkpoint in CTranslate2's binary format, for the browser tests."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

D, HEADS, FFN, VOCAB, N_POS, N_MELS = 8, 2, 16, 12, 40, 80


def _string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def ct2_bytes(variables: dict[str, np.ndarray[Any, Any]], aliases: dict[str, str]) -> bytes:
    type_ids = {np.dtype("float32"): 0, np.dtype("int8"): 1, np.dtype("int16"): 2}
    type_ids[np.dtype("float16")] = 4
    out = [struct.pack("<I", 6), _string("WhisperSpec"), struct.pack("<I", 3)]
    out.append(struct.pack("<I", len(variables)))
    for name, value in variables.items():
        out += [_string(name), struct.pack("<B", value.ndim)]
        out += [struct.pack("<I", n) for n in value.shape]
        raw = value.tobytes()
        out += [struct.pack("<BI", type_ids[value.dtype], len(raw)), raw]
    out.append(struct.pack("<I", len(aliases)))
    for alias, target in aliases.items():
        out += [_string(alias), _string(target)]
    return b"".join(out)


def whisper_variables(seed: int = 0) -> dict[str, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)

    def f(*shape: int) -> np.ndarray[Any, Any]:
        return (rng.standard_normal(shape) * 0.3).astype(np.float16)

    v: dict[str, np.ndarray[Any, Any]] = {
        "encoder/num_heads": np.array(HEADS, dtype=np.int16),
        "decoder/num_heads": np.array(HEADS, dtype=np.int16),
        "encoder/conv1/weight": f(D, N_MELS, 3),
        "encoder/conv1/bias": f(D),
        "encoder/conv2/weight": f(D, D, 3),
        "encoder/conv2/bias": f(D),
        "encoder/position_encodings/encodings": f(N_POS, D),
        "decoder/embeddings/weight": f(VOCAB, D),
        "decoder/position_encodings/encodings": f(N_POS, D),
    }
    for stack in ("encoder", "decoder"):
        norms = ["self_attention", "ffn"] + (["attention"] if stack == "decoder" else [])
        for norm in [f"{stack}/layer_0/{n}/layer_norm" for n in norms] + [f"{stack}/layer_norm"]:
            v[f"{norm}/gamma"], v[f"{norm}/beta"] = f(D) + np.float16(1), f(D)
        layer = f"{stack}/layer_0"
        v[f"{layer}/self_attention/linear_0/weight"] = f(3 * D, D)
        v[f"{layer}/self_attention/linear_0/bias"] = f(3 * D)
        v[f"{layer}/self_attention/linear_1/weight"] = f(D, D)
        v[f"{layer}/self_attention/linear_1/bias"] = f(D)
        v[f"{layer}/ffn/linear_0/weight"], v[f"{layer}/ffn/linear_0/bias"] = f(FFN, D), f(FFN)
        v[f"{layer}/ffn/linear_1/weight"], v[f"{layer}/ffn/linear_1/bias"] = f(D, FFN), f(D)
    cross = "decoder/layer_0/attention"
    v[f"{cross}/linear_0/weight"], v[f"{cross}/linear_0/bias"] = f(D, D), f(D)
    v[f"{cross}/linear_1/weight"], v[f"{cross}/linear_1/bias"] = f(2 * D, D), f(2 * D)
    v[f"{cross}/linear_2/weight"], v[f"{cross}/linear_2/bias"] = f(D, D), f(D)
    return v
