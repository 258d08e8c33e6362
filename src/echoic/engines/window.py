"""Decode one short window of speech (a live utterance) with a right-sized encoder input.

Stock ``WhisperModel.transcribe`` pads every call to a 30 s encoder window, so a 1 s clip costs
nearly what a 30 s clip costs (≈ 0.5 s for tiny.en on two cores, DESIGN.md §10). CTranslate2's
Whisper encoder accepts shorter inputs: padding the log-Mel features only to the window plus
``pad_s`` (2 s by default) makes a 2 s draft cost ≈ 60 ms. Without any padding the decoder
tends to loop, so some padding stays, and the number of new tokens is capped by the window's
length. ``pad_s=None`` pads to the full 30 s like stock faster-whisper (for comparison).

The result is one segment spanning the window (a live utterance is at most 30 s), with word
timings when asked for.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from echoic.types import SAMPLE_RATE, Audio, Segment, Word, logprob_to_confidence

FRAMES_PER_S = 100  # log-Mel frames per second (hop 160 at 16 kHz)
FULL_FRAMES = 3000  # 30 s: Whisper's native encoder window
WINDOW_MAX_S = 30.0  # longer audio goes through the stock (seeking) decoder
TOKENS_PER_S = 8  # generous ceiling on speech token rate; caps decoder loops
NO_SPEECH_THRESHOLD = 0.6  # Whisper's rule: no speech when p(no speech) > 0.6 ...
LOGPROB_THRESHOLD = -1.0  # ... and the text is not confidently decoded either


@dataclass(frozen=True, kw_only=True)
class WindowOptions:
    language: str | None = None
    beam_size: int = 1
    prompt: str | None = None
    word_timestamps: bool = False
    pad_s: float | None = 2.0
    timestamps: bool = False


@dataclass(frozen=True, kw_only=True)
class WindowResult:
    segment: Segment | None  # None: no speech in the window
    language: str
    language_probability: float
    no_speech_prob: float
    duration: float


def decode_window(model: Any, audio: Audio, options: WindowOptions) -> WindowResult:
    """Transcribe ``audio`` (≤ 30 s) with ``model`` (a ``faster_whisper.WhisperModel``)."""
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens

    duration = len(audio) / SAMPLE_RATE
    features = model.feature_extractor(audio[: 30 * SAMPLE_RATE])
    n_frames = min(features.shape[-1], FULL_FRAMES)
    features = features[:, :n_frames]
    target = FULL_FRAMES
    if options.pad_s is not None:
        target = min(FULL_FRAMES, n_frames + round(options.pad_s * FRAMES_PER_S))
    features = np.pad(features, ((0, 0), (0, target - n_frames)))
    encoder_output = model.encode(features)

    language, language_probability = options.language, 1.0
    if language is None and model.model.is_multilingual:
        token, language_probability = model.model.detect_language(encoder_output)[0][0]
        language = token[2:-2]
    tokenizer = Tokenizer(
        model.hf_tokenizer,
        model.model.is_multilingual,
        task="transcribe",
        language=language or "en",
    )
    previous = tokenizer.encode(" " + options.prompt.strip()) if options.prompt else []
    prompt = model.get_prompt(tokenizer, previous, without_timestamps=not options.timestamps)
    max_new = min(model.max_length // 2, 8 + math.ceil(duration * TOKENS_PER_S))
    result = model.model.generate(
        encoder_output,
        [prompt],
        beam_size=options.beam_size,
        patience=1,
        length_penalty=1,
        max_length=min(model.max_length, len(prompt) + max_new),
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
    )[0]
    tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
    avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
    text = trim_repetition(tokenizer.decode(tokens))
    silent = result.no_speech_prob > NO_SPEECH_THRESHOLD and avg_logprob < LOGPROB_THRESHOLD
    if silent or not text.strip():
        return WindowResult(
            segment=None,
            language=language or "en",
            language_probability=float(language_probability),
            no_speech_prob=float(result.no_speech_prob),
            duration=duration,
        )
    words = None
    if options.word_timestamps:
        words = _align_words(model, tokenizer, encoder_output, tokens, n_frames, duration)
    segment = Segment(
        id=0,
        start=0.0,
        end=duration,
        text=text,
        confidence=logprob_to_confidence(avg_logprob),
        avg_logprob=round(avg_logprob, 4),
        no_speech_prob=round(float(result.no_speech_prob), 4),
        compression_ratio=round(_compression_ratio(text), 4),
        temperature=0.0,
        tokens=tuple(tokens),
        words=words,
    )
    return WindowResult(
        segment=segment,
        language=language or "en",
        language_probability=float(language_probability),
        no_speech_prob=float(result.no_speech_prob),
        duration=duration,
    )


def _align_words(
    model: Any,
    tokenizer: Any,
    encoder_output: Any,
    tokens: list[int],
    n_frames: int,
    duration: float,
) -> tuple[Word, ...]:
    # faster-whisper's aligner takes segments as lists of sub-segment dicts and fills in "words".
    subsegment: dict[str, Any] = {"seek": 0, "start": 0.0, "end": duration, "tokens": tokens}
    model.add_word_timestamps(
        [[subsegment]],
        tokenizer,
        encoder_output,
        n_frames,
        "\"'“¿([{-",
        "\"'.。,，!！?？:：”)]}、",
        0.0,
    )
    return tuple(
        Word(word=w["word"], start=w["start"], end=w["end"], probability=w["probability"])
        for w in subsegment.get("words", [])
    )


MIN_LOOP_WORDS = 3  # "New York, New York" is speech; a loop repeats at least 3 words


def trim_repetition(text: str) -> str:
    """Cut a decoder loop off the end of ``text``.

    With a short encoder input the decoder sometimes starts over once the speech runs out:
    "How are your nerves tonight? How are your nerves tonight?". Whatever follows the first
    period of a repeating tail (≥ 3 words, matched without case or punctuation) is dropped.
    """
    words = text.split()
    keys = [re.sub(r"[^\w']+", "", w.lower()) for w in words]
    n = len(keys)
    for start in range(n - MIN_LOOP_WORDS):
        tail = keys[start:]
        for period in range(1, len(tail) - MIN_LOOP_WORDS + 1):
            if all(
                _same(tail[i], tail[i - period], i == len(tail) - 1)
                for i in range(period, len(tail))
            ):
                return " ".join(words[: start + period])
    return text


def _same(word: str, earlier: str, last: bool) -> bool:
    # The loop may be cut off mid-word by the token cap: "... In bein".
    return word == earlier or (last and bool(word) and earlier.startswith(word))


def _compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / max(1, len(zlib.compress(data)))
