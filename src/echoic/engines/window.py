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
from collections.abc import Sequence
from dataclasses import dataclass, replace
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
    duration = len(audio) / SAMPLE_RATE
    features, n_frames = _features(model, audio)
    target = padded_frames(n_frames, options.pad_s)
    encoder_output = model.encode(np.pad(features, ((0, 0), (0, target - n_frames))))
    language, language_probability = options.language, 1.0
    if language is None and model.model.is_multilingual:
        token, language_probability = model.model.detect_language(encoder_output)[0][0]
        language = token[2:-2]
    tokenizer = _tokenizer(model, language)
    prompt = _prompt(model, tokenizer, options)
    max_new = _max_new_tokens(model, duration)
    generated = _generate(
        model, encoder_output, [prompt], tokenizer, options, len(prompt) + max_new
    )
    result = _Decoded(
        tokenizer=tokenizer,
        language=language or "en",
        language_probability=float(language_probability),
        duration=duration,
        max_new=max_new,
    ).result(generated[0])
    if not options.word_timestamps:
        return result
    return _with_words(model, tokenizer, encoder_output, result, n_frames)


def decode_windows(
    model: Any, audios: Sequence[Audio], options: WindowOptions
) -> list[WindowResult]:
    """Transcribe several windows (each ≤ 30 s) in one batched encoder and decoder call: the
    drafts of several live streams at once.

    The log-Mel features are padded to the longest window plus ``pad_s`` (the encoder takes one
    shape per batch), so a short window sees more silence after it than alone; keep the
    lengths of one batch close (:func:`length_groups`). Each window is decoded greedily or with
    ``beam_size`` as :func:`decode_window` would, its tokens capped at its own length's
    ceiling; a multilingual model without ``language`` detects each window's language.
    With ``word_timestamps`` each window's words are aligned on its own slice of the batch's
    encoder output (live finals of several streams).
    """
    if len(audios) == 1:
        return [decode_window(model, audios[0], options)]
    framed = [_features(model, audio) for audio in audios]
    target = max(padded_frames(n_frames, options.pad_s) for _, n_frames in framed)
    batch = np.stack(
        [np.pad(features, ((0, 0), (0, target - n_frames))) for features, n_frames in framed]
    )
    encoder_output = model.encode(batch)
    guesses: list[tuple[str | None, float]] = [(options.language, 1.0)] * len(audios)
    if options.language is None and model.model.is_multilingual:
        guesses = [
            (token[2:-2], float(probability))
            for (token, probability), *_ in model.model.detect_language(encoder_output)
        ]
    tokenizers: dict[str | None, Any] = {}
    windows: list[_Decoded] = []
    prompts: list[list[int]] = []
    for audio, (language, probability) in zip(audios, guesses, strict=True):
        if language not in tokenizers:
            tokenizers[language] = _tokenizer(model, language)
        duration = len(audio) / SAMPLE_RATE
        windows.append(
            _Decoded(
                tokenizer=tokenizers[language],
                language=language or "en",
                language_probability=probability,
                duration=duration,
                max_new=_max_new_tokens(model, duration),
            )
        )
        prompts.append(_prompt(model, tokenizers[language], options))
    longest = max(
        len(prompt) + window.max_new for prompt, window in zip(prompts, windows, strict=True)
    )
    results = _generate(model, encoder_output, prompts, windows[0].tokenizer, options, longest)
    decoded = [window.result(result) for window, result in zip(windows, results, strict=True)]
    if not options.word_timestamps:
        return decoded
    items = _items(encoder_output)
    return [
        _with_words(model, window.tokenizer, item, result, n_frames)
        for item, window, result, (_, n_frames) in zip(items, windows, decoded, framed, strict=True)
    ]


def _items(encoder_output: Any) -> list[Any]:
    """Each window's encoder output out of a batch's (CTranslate2 storage has no slicing): the
    batch is copied to host memory once, then split."""
    import ctranslate2

    if encoder_output.device != "cpu":
        encoder_output = encoder_output.to_device(ctranslate2.Device.cpu)
    batch = np.array(encoder_output)
    return [ctranslate2.StorageView.from_array(batch[i : i + 1]) for i in range(len(batch))]


def _with_words(
    model: Any, tokenizer: Any, encoder_output: Any, result: WindowResult, n_frames: int
) -> WindowResult:
    if result.segment is None:
        return result
    words = _align_words(
        model, tokenizer, encoder_output, list(result.segment.tokens), n_frames, result.duration
    )
    return replace(result, segment=replace(result.segment, words=words))


def padded_frames(n_frames: int, pad_s: float | None) -> int:
    """The encoder input, in log-Mel frames, for a window of ``n_frames``."""
    if pad_s is None:
        return FULL_FRAMES
    return min(FULL_FRAMES, n_frames + round(pad_s * FRAMES_PER_S))


#: A batch pads every window to its longest; grouping stops where the padding would add more
#: than this fraction to the encoder work of the windows padded each to its own length.
MAX_PAD_WASTE = 0.25


def length_groups(
    samples: Sequence[int], pad_s: float | None, max_waste: float = MAX_PAD_WASTE
) -> list[list[int]]:
    """Split windows of ``samples`` lengths into batches of similar length (indexes, shortest
    first): the encoder's cost grows with its input, so a 2 s draft padded to a 20 s one's
    length would cost ten times its own."""

    def frames(i: int) -> int:
        return padded_frames(min(FULL_FRAMES, samples[i] * FRAMES_PER_S // SAMPLE_RATE), pad_s)

    groups: list[list[int]] = []
    own = 0
    for index in sorted(range(len(samples)), key=lambda i: samples[i]):
        group = groups[-1] if groups else None
        if group is not None and (len(group) + 1) * frames(index) <= (1 + max_waste) * (
            own + frames(index)
        ):
            group.append(index)
            own += frames(index)
            continue
        groups.append([index])
        own = frames(index)
    return groups


def _features(model: Any, audio: Audio) -> tuple[Any, int]:
    features = model.feature_extractor(audio[: 30 * SAMPLE_RATE])
    n_frames = min(features.shape[-1], FULL_FRAMES)
    return features[:, :n_frames], n_frames


def _tokenizer(model: Any, language: str | None) -> Any:
    from faster_whisper.tokenizer import Tokenizer

    return Tokenizer(
        model.hf_tokenizer,
        model.model.is_multilingual,
        task="transcribe",
        language=language or "en",
    )


def _prompt(model: Any, tokenizer: Any, options: WindowOptions) -> list[int]:
    previous = tokenizer.encode(" " + options.prompt.strip()) if options.prompt else []
    prompt: list[int] = model.get_prompt(
        tokenizer, previous, without_timestamps=not options.timestamps
    )
    return prompt


def _max_new_tokens(model: Any, duration: float) -> int:
    limit: int = model.max_length // 2
    return min(limit, 8 + math.ceil(duration * TOKENS_PER_S))


def _generate(
    model: Any,
    encoder_output: Any,
    prompts: list[list[int]],
    tokenizer: Any,
    options: WindowOptions,
    max_length: int,
) -> list[Any]:
    from faster_whisper.transcribe import get_suppressed_tokens

    results: list[Any] = model.model.generate(
        encoder_output,
        prompts,
        beam_size=options.beam_size,
        patience=1,
        length_penalty=1,
        max_length=min(model.max_length, max_length),
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
    )
    return results


@dataclass(frozen=True, kw_only=True)
class _Decoded:
    """One window of a decode: what turns CTranslate2's answer into a :class:`WindowResult`."""

    tokenizer: Any
    language: str
    language_probability: float
    duration: float
    max_new: int

    def result(self, generated: Any) -> WindowResult:
        tokenizer = self.tokenizer
        tokens = [t for t in generated.sequences_ids[0] if t < tokenizer.eot][: self.max_new]
        avg_logprob = generated.scores[0] * len(tokens) / (len(tokens) + 1)
        text = trim_repetition(tokenizer.decode(tokens))
        no_speech_prob = float(generated.no_speech_prob)
        silent = no_speech_prob > NO_SPEECH_THRESHOLD and avg_logprob < LOGPROB_THRESHOLD
        segment = None
        if not silent and text.strip():
            segment = Segment(
                id=0,
                start=0.0,
                end=self.duration,
                text=text,
                confidence=logprob_to_confidence(avg_logprob),
                avg_logprob=round(avg_logprob, 4),
                no_speech_prob=round(no_speech_prob, 4),
                compression_ratio=round(_compression_ratio(text), 4),
                temperature=0.0,
                tokens=tuple(tokens),
            )
        return WindowResult(
            segment=segment,
            language=self.language,
            language_probability=self.language_probability,
            no_speech_prob=no_speech_prob,
            duration=self.duration,
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
