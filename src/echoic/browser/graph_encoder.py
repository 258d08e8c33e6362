"""The encoder graph: raw 16 kHz samples in, every decoder layer's cross-attention keys and
values out.

Projecting the cross-attention keys and values here, once per utterance, keeps them out of
the decoder's per-token work (they depend on the audio only). CTranslate2 stores the decoder's
cross-attention key and value projections fused (``attention/linear_1``: keys then values; the
key half's bias is zero, as Whisper's key projections have none).
"""

from __future__ import annotations

from onnx import ModelProto, TensorProto, helper

from echoic.browser.ct2 import Checkpoint
from echoic.browser.frontend import HOP, N_BINS, N_FFT, mel_filters, stft_kernels
from echoic.browser.graph import Graph, Weights


def front_end(g: Graph, audio: str) -> str:
    """``[1, S]`` samples → ``[1, 80, S/160]`` normalised log-Mel features (see
    :func:`echoic.browser.frontend.log_mel`, its numpy twin).

    The zeros after the last non-zero sample are the caller's padding: as faster-whisper pads
    a right-sized window's *features* with zeros (not its audio), frames past the speech are 0
    and the ``max − 8`` floor is taken over the speech frames only."""
    samples = g.op("Squeeze", audio, g.const([0]))  # [S]
    n_samples = g.op("Shape", samples)
    positions = g.op("Range", g.const(1), g.op("Squeeze", n_samples, g.const([0])), g.const(1))
    positions = g.op("Concat", positions, n_samples, axis=0)  # 1 … S
    voiced = g.op("Not", g.op("Equal", samples, g.const(0.0, "float32")))
    speech_end = g.op("ReduceMax", g.op("Where", voiced, positions, g.const(0)), keepdims=0)
    speech_frames = g.op("Add", g.op("Div", speech_end, g.const(HOP)), g.const(1))
    framed = g.op("Unsqueeze", audio, g.const([1]))  # [1, 1, S]
    pad = N_FFT // 2
    padded = g.op("Pad", framed, g.const([0, 0, pad, 0, 0, pad]), mode="reflect")
    kernels = g.weight("stft_kernels", stft_kernels(), exact=True)
    spectrum = g.op("Conv", padded, kernels, strides=[HOP])  # [1, 402, S/160 + 1]
    squared = g.op("Mul", spectrum, spectrum)
    real, imag = g.ops("Split", squared, g.const([N_BINS, N_BINS]), axis=1, outputs=2)
    power = g.op("Add", real, imag)
    n_frames = g.op("Sub", g.op("Shape", power, start=2, end=3), g.const([1]))
    power = g.op("Slice", power, g.const([0]), n_frames, g.const([2]))  # drop the last frame
    mel = g.op("MatMul", g.weight("mel_filters", mel_filters(), exact=True), power)
    floored = g.op("Max", mel, g.const(1e-10, "float32"))
    log10 = g.op("Div", g.op("Log", floored), g.const(2.302585092994046, "float32"))
    frames = g.op("Range", g.const(0), g.op("Squeeze", n_frames, g.const([0])), g.const(1))
    in_speech = g.op("Less", frames, speech_frames)  # [S/160], broadcast over the Mel bins
    loudest = g.op("ReduceMax", g.op("Where", in_speech, log10, g.const(-1e30, "float32")))
    clamped = g.op("Max", log10, g.op("Sub", loudest, g.const(8.0, "float32")))
    scaled = g.op("Div", g.op("Add", clamped, g.const(4.0, "float32")), g.const(4.0, "float32"))
    return g.op("Where", in_speech, scaled, g.const(0.0, "float32"))


def build_encoder(ckpt: Checkpoint, *, half: bool) -> ModelProto:
    g = Graph(half=half)
    w = Weights(g, ckpt)
    n_heads = int(ckpt.variables["encoder/num_heads"])
    d_model = ckpt.get("encoder/conv1/bias").shape[0]
    x = front_end(g, "audio")
    for conv, stride in (("encoder/conv1", 1), ("encoder/conv2", 2)):
        x = g.gelu(
            g.op("Conv", x, w(f"{conv}/weight"), w(f"{conv}/bias"), pads=[1, 1], strides=[stride])
        )
    x = g.op("Transpose", g.op("Squeeze", x, g.const([0])), perm=[1, 0])  # [T, d]
    n_pos = g.op("Shape", x, start=0, end=1)
    table = w("encoder/position_encodings/encodings")
    x = g.op("Add", x, g.op("Slice", table, g.const([0]), n_pos, g.const([0])))
    for i in range(w.n_layers("encoder")):
        layer = f"encoder/layer_{i}"
        h = w.norm(x, f"{layer}/self_attention/layer_norm")
        qkv = w.linear(h, f"{layer}/self_attention/linear_0")
        q, k, v = g.ops("Split", qkv, g.const([d_model] * 3), axis=1, outputs=3)
        mixed = g.attention(q, k, v, n_heads)
        x = g.op("Add", x, w.linear(mixed, f"{layer}/self_attention/linear_1"))
        x = g.op("Add", x, w.ffn(x, layer))
    x = w.norm(x, "encoder/layer_norm")
    cross = []
    for i in range(w.n_layers("decoder")):
        kv = w.linear(x, f"decoder/layer_{i}/attention/linear_1")
        k, v = g.ops("Split", kv, g.const([d_model, d_model]), axis=1, outputs=2)
        cross += [g.op("Unsqueeze", k, g.const([0])), g.op("Unsqueeze", v, g.const([0]))]
    g.rename(g.op("Concat", *cross, axis=0), "cross_kv")
    return g.model(
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, "samples"])],
        [helper.make_tensor_value_info("cross_kv", TensorProto.FLOAT, [None, "frames", d_model])],
        "Whisper encoder: 16 kHz samples [1, S] -> cross-attention keys/values [2L, S/320, d]",
    )
