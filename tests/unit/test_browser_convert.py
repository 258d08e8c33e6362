"""The conversion's pure parts: the CTranslate2 reader, the front end, the graphs' cache
contract, token bytes and the decode rules, on a synthetic checkpoint (the real tiny.en is
checked against CTranslate2 in tests/integration/test_browser_model.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from echoic.browser.ct2 import parse_ct2
from echoic.browser.decode import detokenize, max_new_tokens, next_token, padded_samples, silent
from echoic.browser.frontend import log_mel, mel_filters
from echoic.browser.graph import Graph
from echoic.browser.graph_decoder import build_decoder
from echoic.browser.graph_encoder import build_encoder, front_end
from echoic.browser.vocab import byte_decoder
from echoic.errors import ModelCorruptError
from tests.unit.browser_ckpt import VOCAB, D, ct2_bytes, whisper_variables


def test_the_reader_returns_every_variable_and_resolves_aliases() -> None:
    variables = whisper_variables()
    ckpt = parse_ct2(
        ct2_bytes(variables, {"decoder/projection/weight": "decoder/embeddings/weight"})
    )
    assert ckpt.spec == "WhisperSpec"
    assert ckpt.revision == 3
    for name, value in variables.items():
        assert np.array_equal(ckpt.variables[name], value), name
    assert (
        ckpt.variables["decoder/projection/weight"] is ckpt.variables["decoder/embeddings/weight"]
    )
    assert ckpt.get("encoder/conv1/bias").dtype == np.float32


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (ct2_bytes(whisper_variables(), {})[:-100], "truncated"),
        (ct2_bytes(whisper_variables(), {}) + b"\0", "unexpected bytes"),
        (ct2_bytes({}, {"a": "missing"}), "missing variable"),
        (b"\x01\0\0\0", "binary version 1"),
    ],
)
def test_a_damaged_model_bin_is_named(data: bytes, why: str) -> None:
    with pytest.raises(ModelCorruptError, match=why):
        parse_ct2(data)


def test_the_front_end_matches_faster_whisper() -> None:
    from faster_whisper.feature_extractor import FeatureExtractor

    extractor = FeatureExtractor(feature_size=80)
    assert np.allclose(extractor.mel_filters, mel_filters(), atol=1e-7)
    audio = (np.random.default_rng(1).standard_normal(16000) * 0.1).astype(np.float32)
    assert np.allclose(extractor(audio, padding=0), log_mel(audio), atol=1e-5)


def test_padding_zeros_become_zero_frames_as_faster_whisper_pads_features() -> None:
    from faster_whisper.feature_extractor import FeatureExtractor

    speech = (np.random.default_rng(4).standard_normal(16077) * 0.1).astype(np.float32)
    expected = np.pad(FeatureExtractor(feature_size=80)(speech), ((0, 0), (0, 200)))
    audio = np.zeros(padded_samples(len(speech), _CONFIG), dtype=np.float32)
    audio[: len(speech)] = speech
    assert np.allclose(log_mel(audio), expected, atol=1e-5)


def test_the_graphs_front_end_is_the_numpy_one() -> None:
    graph = Graph(half=True)
    graph.rename(front_end(graph, "audio"), "features")
    model = graph.model(
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, "samples"])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, None)],
        "front end",
    )
    audio = np.zeros((1, 160 * 251), dtype=np.float32)
    audio[0, :16077] = np.random.default_rng(5).standard_normal(16077) * 0.1
    (features,) = ort.InferenceSession(model.SerializeToString()).run(None, {"audio": audio})
    assert features.shape == (1, 80, 251)
    assert np.allclose(features[0], log_mel(audio[0]), atol=1e-4)


def _sessions(half: bool) -> tuple[Any, Any]:
    ckpt = parse_ct2(ct2_bytes(whisper_variables(), {}))
    encoder = ort.InferenceSession(build_encoder(ckpt, half=half).SerializeToString())
    decoder = ort.InferenceSession(build_decoder(ckpt, half=half).SerializeToString())
    return encoder, decoder


def test_the_encoder_output_has_the_contracts_shape_and_front_end() -> None:
    encoder, _ = _sessions(half=True)
    audio = (np.random.default_rng(2).standard_normal((1, 160 * 13)) * 0.1).astype(np.float32)
    (cross,) = encoder.run(None, {"audio": audio})
    assert cross.shape == (2, 7, D)  # 2 × 1 layer, ⌈S / 320⌉ positions
    assert np.isfinite(cross).all()


def test_one_call_and_token_by_token_calls_agree() -> None:
    """The cache, positions and causal mask: feeding [a, b, c] at once must give the logits and
    cache that feeding a, then b, then c gives."""
    encoder, decoder = _sessions(half=False)
    audio = (np.random.default_rng(3).standard_normal((1, 320 * 5)) * 0.1).astype(np.float32)
    (cross,) = encoder.run(None, {"audio": audio})
    empty = np.zeros((2, 1, 0, D), dtype=np.float32)
    tokens = np.array([[3, 7, 5]], dtype=np.int64)
    logits, cache = decoder.run(None, {"tokens": tokens, "self_kv": empty, "cross_kv": cross})
    assert logits.shape == (1, VOCAB)
    assert cache.shape == (2, 1, 3, D)
    step_cache = empty
    for token in tokens[0]:
        step_logits, step_cache = decoder.run(
            None,
            {"tokens": np.array([[token]]), "self_kv": step_cache, "cross_kv": cross},
        )
    assert np.allclose(step_logits, logits, atol=1e-4)
    assert np.allclose(step_cache, cache, atol=1e-4)


def test_each_hypothesis_of_a_batch_gets_what_it_would_alone() -> None:
    """Beam search steps B hypotheses in one call, each with its own cache and the encoder
    output shared: row b of the batch must be exactly the B = 1 call on row b (greedy's call),
    and a cache reordered with a gather on axis 1 must go on as the hypotheses it came from."""
    ckpt = parse_ct2(ct2_bytes(whisper_variables(), {}))
    encoder = ort.InferenceSession(build_encoder(ckpt, half=False).SerializeToString())
    model = build_decoder(ckpt, half=False, alignment_heads=[(0, 1)])
    decoder = ort.InferenceSession(model.SerializeToString())
    audio = (np.random.default_rng(6).standard_normal((1, 320 * 5)) * 0.1).astype(np.float32)
    (cross,) = encoder.run(None, {"audio": audio})
    prompts = np.array([[3, 7], [1, 2], [4, 4]], dtype=np.int64)
    empty = np.zeros((2, 3, 0, D), dtype=np.float32)
    logits, cache, alignment = decoder.run(
        None, {"tokens": prompts, "self_kv": empty, "cross_kv": cross}
    )
    assert (logits.shape, cache.shape, alignment.shape) == ((3, VOCAB), (2, 3, 2, D), (3, 1, 2, 5))
    for b in range(3):
        alone = decoder.run(
            None, {"tokens": prompts[b : b + 1], "self_kv": empty[:, :1], "cross_kv": cross}
        )
        assert np.array_equal(alone[0], logits[b : b + 1])
        assert np.array_equal(alone[1], cache[:, b : b + 1])
        assert np.array_equal(alone[2], alignment[b : b + 1])
    parents = [2, 2, 0]
    reordered = np.take(cache, parents, axis=1)
    step = np.array([[5], [6], [9]], dtype=np.int64)
    logits, grown, _ = decoder.run(None, {"tokens": step, "self_kv": reordered, "cross_kv": cross})
    for j, parent in enumerate(parents):
        tokens = np.array([[*prompts[parent], step[j, 0]]])
        alone = decoder.run(None, {"tokens": tokens, "self_kv": empty[:, :1], "cross_kv": cross})
        assert np.allclose(alone[0], logits[j : j + 1], atol=1e-5)
        assert np.allclose(alone[1], grown[:, j : j + 1], atol=1e-5)


def test_token_bytes_undo_byte_level_bpe() -> None:
    decode = byte_decoder()
    assert sorted(decode.values()) == list(range(256))
    assert decode["Ġ"] == ord(" ")
    assert decode["a"] == ord("a")


def test_detokenize_joins_bytes_across_tokens() -> None:
    table = ["\xc3", "\xa9", " caf", "<|endoftext|>"]
    assert detokenize(table, [2, 0, 1]) == " café"


_CONFIG: dict[str, Any] = {
    "sample_rate": 16000,
    "hop_samples": 160,
    "pad_seconds": 2.0,
    "max_seconds": 30,
    "max_tokens": 224,
    "tokens_per_second": 8,
    "token_margin": 8,
    "suppress_tokens": [1],
    "suppress_blank": [2, 3],
    "no_speech_threshold": 0.6,
    "logprob_threshold": -1.0,
}


@pytest.mark.parametrize(
    ("n_samples", "padded"),
    [
        (16000, 160 * 301),  # faster-whisper: 101 frames of speech, 200 of padding
        (16159, 160 * 301),
        (16160, 160 * 302),  # an odd frame count stays odd
        (0, 160 * 201),
        (470000, 480000),
        (480000, 480000),
    ],
)
def test_padding_adds_two_seconds_of_frames_as_faster_whisper(n_samples: int, padded: int) -> None:
    assert padded_samples(n_samples, _CONFIG) == padded


@pytest.mark.parametrize(("seconds", "tokens"), [(1.0, 16), (2.5, 28), (0.1, 9), (30.0, 224)])
def test_new_tokens_are_capped_by_the_duration(seconds: float, tokens: int) -> None:
    assert max_new_tokens(round(seconds * 16000), _CONFIG) == tokens


def test_suppressed_tokens_are_never_picked_and_blank_not_first() -> None:
    logits = np.array([0.0, 9.0, 8.0, 7.0, 1.0], dtype=np.float32)
    assert next_token(logits, 0, _CONFIG) == 4
    assert next_token(logits, 1, _CONFIG) == 2
    assert logits[1] == 9.0  # the caller's logits are left alone


@pytest.mark.parametrize(
    ("no_speech_prob", "avg_logprob", "dropped"),
    [
        (0.9, -2.0, True),  # white noise decoded as "I'm going to go to the ground."
        (0.9, -0.5, False),  # confidently decoded: speech after all
        (0.3, -2.0, False),  # unsure text of likely speech is kept
        (0.6, -2.0, False),  # both bounds are strict, as Whisper's
        (0.9, -1.0, False),
        (0.61, -1.01, True),
    ],
)
def test_the_no_speech_rule_needs_both_signals(
    no_speech_prob: float, avg_logprob: float, dropped: bool
) -> None:
    assert silent(no_speech_prob, avg_logprob, _CONFIG) is dropped
