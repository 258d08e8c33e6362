"""The reference decoder for the browser model, in Python: what ``whisper.js`` mirrors.

Greedy decoding (or, for finals, beam search: :mod:`echoic.browser.beam`) under the rules
echoic's live windows use (:mod:`echoic.engines.window`): the
audio (at most 30 s) is followed by ``pad_seconds`` of silence, rounded up to whole encoder
positions; the prompt is the start sequence plus ``<|notimestamps|>``; the suppressed tokens
are masked at every step and the blank and end tokens at the first; at most
``token_margin + ⌈tokens_per_second · duration⌉`` (≤ ``max_tokens``) tokens are generated;
the text is the tokens' bytes as UTF-8 with a trailing decoder loop cut off. Whisper's
no-speech rule drops the text of a window that is probably not speech (:func:`silent`): the
probability of the no-speech token after ``<|startoftranscript|>`` (fed alone first, so its
logits are the graph's output) above ``no_speech_threshold`` and the tokens' mean
log-probability below ``logprob_threshold``, as the server's windows do. Temperature fallback
and prompts are left out.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from echoic.browser.beam import Hypothesis, search
from echoic.browser.words import TimedWord, align_words
from echoic.engines.window import trim_repetition


@dataclass(frozen=True, kw_only=True)
class Decoded:
    text: str
    tokens: tuple[int, ...]
    encode_ms: float
    decode_ms: float
    words: tuple[TimedWord, ...] = ()
    #: p(no-speech token) after ``<|startoftranscript|>``
    no_speech_prob: float = 0.0
    #: the tokens' log-probabilities, the end token's included, over their count plus one
    avg_logprob: float = 0.0


def silent(no_speech_prob: float, avg_logprob: float, config: dict[str, Any]) -> bool:
    """Whisper's no-speech rule: probably no speech, and the text not confidently decoded."""
    return bool(
        no_speech_prob > config["no_speech_threshold"] and avg_logprob < config["logprob_threshold"]
    )


def padded_samples(n_samples: int, config: dict[str, Any]) -> int:
    """The encoder input's length for ``n_samples`` of speech (already cut to ``max_seconds``).

    Exactly faster-whisper's right-sized window (:func:`echoic.engines.window.padded_frames`):
    ``n // 160 + 1`` log-Mel frames (it pads 160 zero samples before framing), plus
    ``pad_seconds`` of frames (100 a second), at most 30 s; the graph turns the zero samples
    after the speech into zero frames, as faster-whisper pads its features. An odd frame count
    is kept odd: rounding it up to whole encoder positions would add a frame that the encoder's
    attention sees everywhere."""
    hop, rate = int(config["hop_samples"]), int(config["sample_rate"])
    pad_frames = round(float(config["pad_seconds"]) * rate / hop)
    frames = n_samples // hop + 1 + pad_frames
    return min(int(config["max_seconds"]) * rate, frames * hop)


def max_new_tokens(n_samples: int, config: dict[str, Any]) -> int:
    duration = n_samples / config["sample_rate"]
    wanted = config["token_margin"] + math.ceil(duration * config["tokens_per_second"])
    return int(min(config["max_tokens"], wanted))


def detokenize(table: list[str], tokens: list[int] | tuple[int, ...]) -> str:
    raw = bytes(ord(c) for t in tokens for c in table[t])
    return raw.decode("utf-8", errors="replace")


def next_token(logits: npt.NDArray[np.float32], step: int, config: dict[str, Any]) -> int:
    scores = logits.astype(np.float32, copy=True)
    scores[config["suppress_tokens"]] = -np.inf
    if step == 0:
        scores[config["suppress_blank"]] = -np.inf
    best: int = scores.argmax().item()
    return best


@dataclass(frozen=True, kw_only=True)
class _Start:
    no_speech_prob: float
    self_kv: npt.NDArray[np.float32]
    rows: list[npt.NDArray[np.float32]]


class ReferenceDecoder:
    def __init__(self, model_dir: Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3
        providers = ["CPUExecutionProvider"]
        self.config: dict[str, Any] = json.loads((model_dir / "config.json").read_text())
        self.tokens: list[str] = json.loads((model_dir / "tokens.json").read_text())
        self._encoder = ort.InferenceSession(
            str(model_dir / "encoder.onnx"), options, providers=providers
        )
        self._decoder = ort.InferenceSession(
            str(model_dir / "decoder.onnx"), options, providers=providers
        )

    def transcribe(
        self,
        samples: npt.NDArray[np.float32],
        max_tokens: int | None = None,
        *,
        word_timestamps: bool = False,
        beam_size: int = 1,
    ) -> Decoded:
        """``beam_size`` 1 decodes greedily; more runs :mod:`echoic.browser.beam`'s search."""
        config = self.config
        samples = samples[: config["max_seconds"] * config["sample_rate"]].astype(np.float32)
        audio = np.zeros((1, padded_samples(len(samples), config)), dtype=np.float32)
        audio[0, : len(samples)] = samples
        started = time.perf_counter()
        (cross_kv,) = self._encoder.run(None, {"audio": audio})
        encoded = time.perf_counter()
        limit = max_new_tokens(len(samples), config)
        if max_tokens is not None:
            limit = min(limit, max_tokens)
        start = self._start(cross_kv)
        if beam_size > 1:
            out, probs, logprob = self._beam(cross_kv, start, limit, beam_size)
            rows: list[npt.NDArray[np.float32]] = []
            cache = self._empty_cache()
            unfed = [*config["sot_sequence"], config["no_timestamps"], *out, config["eot"]]
        else:
            out, probs, logprob, rows, unfed, cache = self._greedy(
                cross_kv, start, limit, word_timestamps
            )
        done = time.perf_counter()
        avg_logprob = logprob / (len(out) + 1)
        text = trim_repetition(detokenize(self.tokens, out))
        if silent(start.no_speech_prob, avg_logprob, config):
            text = ""
        words: tuple[TimedWord, ...] = ()
        if word_timestamps and text:
            # Whisper standardises the weights over every row, <|endoftext|>'s included. A
            # beam's rows come from one call over the whole winning sequence.
            _, _, *alignment = self._decoder.run(
                None, {"tokens": np.array([unfed]), "self_kv": cache, "cross_kv": cross_kv}
            )
            frames = min(len(samples) // int(config["hop_samples"]) + 1, 3000)
            all_rows = np.concatenate([*rows, *(a[0] for a in alignment)], axis=1)
            words = align_words(all_rows, out, probs, frames, self.tokens, config["eot"])
            words = words[: len(text.split())]  # a cut-off decoder loop has no words
        return Decoded(
            text=text,
            tokens=tuple(out),
            encode_ms=(encoded - started) * 1000,
            decode_ms=(done - encoded) * 1000,
            words=words,
            no_speech_prob=start.no_speech_prob,
            avg_logprob=avg_logprob,
        )

    def _empty_cache(self, batch: int = 1) -> npt.NDArray[np.float32]:
        shape = (2 * self.config["n_layers"], batch, 0, self.config["d_model"])
        return np.zeros(shape, dtype=np.float32)

    def _start(self, cross_kv: npt.NDArray[np.float32]) -> _Start:
        """``<|startoftranscript|>`` alone: the no-speech probability under its logits, and the
        cache the rest of the prompt continues from."""
        sot = self.config["sot_sequence"][:1]
        logits, self_kv, *alignment = self._decoder.run(
            None, {"tokens": np.array([sot]), "self_kv": self._empty_cache(), "cross_kv": cross_kv}
        )
        return _Start(
            no_speech_prob=_probability(logits[0], self.config["no_speech"]),
            self_kv=self_kv,
            rows=[a[0] for a in alignment],
        )

    def _greedy(
        self, cross_kv: npt.NDArray[np.float32], start: _Start, limit: int, alignment_wanted: bool
    ) -> tuple[
        list[int],
        list[float],
        float,
        list[npt.NDArray[np.float32]],
        list[int],
        npt.NDArray[np.float32],
    ]:
        """The tokens, their probabilities, their log-probabilities' sum (the end token's too),
        the alignment rows of each call, the tokens whose rows are missing when the loop ends
        and the cache they follow."""
        config = self.config
        eot = config["eot"]
        self_kv = start.self_kv
        step_tokens = [*config["sot_sequence"][1:], config["no_timestamps"]]
        # alignment heads' weights, per token fed
        rows: list[npt.NDArray[np.float32]] = list(start.rows) if alignment_wanted else []
        out: list[int] = []
        probs: list[float] = []
        logprob = 0.0
        unfed = [eot]
        for step in range(limit):
            logits, self_kv, *alignment = self._decoder.run(
                None,
                {"tokens": np.array([step_tokens]), "self_kv": self_kv, "cross_kv": cross_kv},
            )
            if alignment_wanted:
                rows += [a[0] for a in alignment]
            token = next_token(logits[0], step, config)
            probability = _probability(logits[0], token)
            logprob += math.log(max(probability, 1e-300))
            if token == eot:
                unfed = [eot]
                break
            out.append(token)
            probs.append(probability)
            step_tokens = [token]
            unfed = [token, eot]
        return out, probs, logprob, rows, unfed, self_kv

    def _beam(
        self, cross_kv: npt.NDArray[np.float32], start: _Start, limit: int, beam_size: int
    ) -> tuple[list[int], list[float], float]:
        config = self.config
        cache = [start.self_kv]

        def next_logits(
            alive: list[Hypothesis], parents: list[int] | None
        ) -> npt.NDArray[np.float32]:
            if parents is None:
                tokens = np.array([[*config["sot_sequence"][1:], config["no_timestamps"]]])
            else:
                cache[0] = np.take(cache[0], parents, axis=1)
                tokens = np.array([[h.tokens[-1]] for h in alive])
            logits, cache[0], *_ = self._decoder.run(
                None, {"tokens": tokens, "self_kv": cache[0], "cross_kv": cross_kv}
            )
            return logits  # type: ignore[no-any-return]

        winner = search(next_logits, limit=limit, beam_size=beam_size, config=config)
        if winner is None:  # limit 0
            return [], [], 0.0
        return list(winner.tokens), list(winner.probs), winner.logprob


def _probability(logits: npt.NDArray[np.float32], token: int) -> float:
    shifted = logits.astype(np.float64) - float(logits.max())
    return float(np.exp(shifted[token]) / np.exp(shifted).sum())
